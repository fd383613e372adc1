"""The pull's record of ids met answers exactly as a dict of id -> last walk would, in far less memory."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence

import pytest

from airflow_provider_lips.pull.seen import Seen, SeenIds


def reference(walks: Sequence[Sequence[object]]) -> list[Seen]:
    """What a plain dict of id -> last walk says for each id of each walk."""
    last: dict[object, int] = {}
    answers = []
    for walk, ids in enumerate(walks):
        for key in ids:
            previous = last.get(key)
            answers.append(Seen.NEW if previous is None else Seen.THIS_WALK if previous == walk else Seen.EARLIER_WALK)
            last[key] = walk
    return answers


def answers(seen: SeenIds, walks: Sequence[Sequence[object]]) -> list[Seen]:
    result = []
    for ids in walks:
        seen.begin_walk()
        result += [seen.see(key) for key in ids]
    return result


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_dict_across_walks_flushes_and_merges(seed: int) -> None:
    rng = random.Random(seed)
    pool: list[object] = [*(rng.randrange(-(2**63), 2**63) for _ in range(300)), *range(4_000_000, 4_000_400)]
    pool += ["4000001", 4000001.0, True, 2**64, -(2**63) - 1, None]  # text, float, bool, beyond 64 bits: other ids
    walks = [[rng.choice(pool) for _ in range(rng.randrange(0, 900))] for _ in range(rng.randrange(1, 6))]
    # A batch of 7 flushes and merges arrays many times per walk.
    assert answers(SeenIds(batch=7), walks) == reference(walks)


def test_a_repeat_inside_a_walk_and_a_reappearance_in_the_next() -> None:
    seen = SeenIds(batch=2)
    seen.begin_walk()
    assert [seen.see(key) for key in (5, 9, 1, 5, 7, 9)] == [Seen.NEW, Seen.NEW, Seen.NEW, Seen.THIS_WALK, Seen.NEW, Seen.THIS_WALK]
    seen.begin_walk()
    assert [seen.see(key) for key in (9, 9, 2, 5)] == [Seen.EARLIER_WALK, Seen.THIS_WALK, Seen.NEW, Seen.EARLIER_WALK]


def test_two_hundred_thousand_ids_take_an_eighth_of_a_dicts_memory() -> None:
    """The reason it exists: a long pull's dedupe was most of its memory growth."""
    first = 4_000_000_000
    seen = SeenIds()
    seen.begin_walk()
    for key in range(first, first + 200_000):
        seen.see(key)
    arrays = [*seen._current, *seen._earlier]
    held = sys.getsizeof(seen._recent) + len(seen._recent) * sys.getsizeof(first) + sum(sys.getsizeof(level.ids) for level in arrays)
    as_dict = dict.fromkeys(range(first, first + 200000), 1)
    dict_bytes = sys.getsizeof(as_dict) + 200_000 * sys.getsizeof(first)
    assert held < dict_bytes / 8, (held, dict_bytes)


def test_large_arrays_merge_a_slice_at_a_time() -> None:
    """Arrays of more than one merge slice (4,096 ids), ids met again across walks merged once."""
    rng = random.Random(7)
    pool = rng.sample(range(10**12), 40_000)
    walks = [rng.sample(pool, 25_000), rng.sample(pool, 30_000) + rng.sample(pool, 500)]
    assert answers(SeenIds(batch=6_000), walks) == reference(walks)
