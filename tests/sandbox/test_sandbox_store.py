"""The store's per-advertiser index answers every listing exactly as a scan of all records would, through
inserts, deletions and archiving."""

from __future__ import annotations

import random
from datetime import timedelta

from lips_sandbox import generate_interactions
from lips_sandbox.data import to_ms
from lips_sandbox.query import Filters
from lips_sandbox.store import InteractionStore, Row
from tests.sandbox.sandbox_support import END, START

ADVERTISERS = ["USA_1", "USA_2", "USA_3", "USA_4"]


def scanned(store: InteractionStore, filters: Filters) -> list[int]:
    """The ids a scan of every record in LIPS order selects."""
    rows = sorted((Row(record) for record in store.records()), key=lambda row: row.sort_key)
    return [
        row.id
        for row in rows
        if row.archived is filters.archived
        and (filters.start_ms is None or row.occurred_ms >= filters.start_ms)
        and (filters.end_ms is None or row.occurred_ms < filters.end_ms)
        and (not filters.advertisers or row.advertiser in filters.advertisers)
        and (not filters.channels or row.channel in filters.channels)
    ]


def random_filters(rng: random.Random) -> Filters:
    start = START + timedelta(hours=rng.randrange(0, 24 * 20))
    return Filters(
        advertisers=frozenset(rng.sample([*ADVERTISERS, "USA_99"], rng.randrange(0, 4))),
        channels=frozenset(rng.sample(["web", "phone", "chat"], rng.randrange(0, 2))),
        archived=rng.random() < 0.3,
        start_ms=rng.choice([None, to_ms(start)]),
        end_ms=rng.choice([None, to_ms(start + timedelta(days=rng.randrange(1, 15)))]),
    )


def test_listings_match_a_full_scan_through_changes() -> None:
    rng = random.Random(3)
    data = generate_interactions(seed=11, count=2_000, start=START, end=END, advertisers=ADVERTISERS)
    store = InteractionStore(data)
    ids = [record["id"] for record in data]
    for round_ in range(4):
        for _ in range(40):
            filters = random_filters(rng)
            assert [row.id for row in store.select(filters, None)] == scanned(store, filters), filters
        for interaction_id in rng.sample(ids, 30):
            store.archive(interaction_id, to_ms(END))
        for interaction_id in rng.sample(ids, 10):
            store.unarchive(interaction_id)
        removed = rng.sample(ids, 20)
        for interaction_id in removed:
            store.delete(interaction_id)
            ids.remove(interaction_id)
        for n, record in enumerate(rng.sample(data, 15)):
            new_id = 10**9 + 100 * round_ + n
            advertiser = rng.choice([*ADVERTISERS, "USA_new"])
            store.insert({**record, "id": new_id, "global_master_advertiser_id": advertiser})
            ids.append(new_id)
