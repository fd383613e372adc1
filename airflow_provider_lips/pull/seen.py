"""The ids a pull has seen, and whether the current walk saw them: dedupe in about 8 bytes an id.

A dict of 200,000 ids held about 17 MB (an int object and a slot each), the largest part of a long
pull's memory growth. Integer ids, what LIPS sends, go into sorted arrays of 64-bit integers instead:
new ids gather in a set of at most ``batch``, which, full, becomes a sorted array; an array merges
into the one before it while that one is at most twice its size (a binary counter), so a walk holds
about log2(ids / batch) + 1 arrays and each id is copied about that many times in all, a slice at a
time. Any other id (text, a float, beyond 64 bits) stays in a dict.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from enum import IntEnum
from typing import Any, NamedTuple

__all__ = ["Seen", "SeenIds"]

_INT64 = (-(2**63), 2**63 - 1)
BATCH = 32_768
_MERGE_SLICE = 4096


class Seen(IntEnum):
    """What :meth:`SeenIds.see` found for an id."""

    NEW = 0
    EARLIER_WALK = 1
    THIS_WALK = 2


class _Sorted(NamedTuple):
    """One sorted array of distinct ids, with its bounds (most lookups fall outside them)."""

    low: int
    high: int
    ids: array[int]

    @classmethod
    def of(cls, ids: array[int]) -> _Sorted:
        return cls(ids[0], ids[-1], ids)


def _holds(levels: list[_Sorted], key: int) -> bool:
    """Whether one of ``levels`` holds ``key`` (inline loops: this runs for every record a pull reads)."""
    for low, high, ids in levels:
        if low <= key <= high:
            index = bisect_left(ids, key)
            if index < len(ids) and ids[index] == key:
                return True
    return False


class SeenIds:
    """Every id met so far, by walk: call :meth:`begin_walk` before each walk, :meth:`see` for each record."""

    def __init__(self, batch: int = BATCH) -> None:
        self.batch = batch
        self._recent: set[int] = set()  # integer ids met in this walk, not yet in an array
        self._current: list[_Sorted] = []  # integer ids met in this walk
        self._earlier: list[_Sorted] = []  # integer ids met in earlier walks
        self._other: dict[Any, int] = {}  # any other id -> the last walk that met it
        self._walk = 0

    def begin_walk(self) -> None:
        """From now on, ids met so far count as met in an earlier walk."""
        self._flush()
        self._earlier = _merged_down(self._earlier + self._current)
        self._current = []
        self._walk += 1

    def see(self, key: Any) -> Seen:
        """Whether ``key`` was met before (in this walk or an earlier one); it is met in this walk from now on.

        Keys are compared as a dict compares them: ``4000001``, ``4000001.0`` and ``True == 1`` alike.
        """
        if type(key) is bool or (type(key) is float and key.is_integer()):
            key = int(key)
        if type(key) is not int or not _INT64[0] <= key <= _INT64[1]:
            previous = self._other.get(key)
            self._other[key] = self._walk
            return Seen.NEW if previous is None else Seen.THIS_WALK if previous == self._walk else Seen.EARLIER_WALK
        if key in self._recent or (self._current and _holds(self._current, key)):
            return Seen.THIS_WALK
        found = Seen.EARLIER_WALK if self._earlier and _holds(self._earlier, key) else Seen.NEW
        self._recent.add(key)
        if len(self._recent) >= self.batch:
            self._flush()
        return found

    def _flush(self) -> None:
        if self._recent:
            self._current.append(_Sorted.of(array("q", sorted(self._recent))))
            self._recent.clear()
            self._current = _merged_down(self._current)


def _merged_down(levels: list[_Sorted]) -> list[_Sorted]:
    """``levels``, largest first, the last merged into the one before while that one is at most twice its size."""
    levels = sorted(levels, key=lambda level: len(level.ids), reverse=True)
    while len(levels) > 1 and len(levels[-2].ids) <= 2 * len(levels[-1].ids):
        last = levels.pop()
        levels[-1] = _merge(levels[-1], last)
    return levels


def _merge(first: _Sorted, second: _Sorted) -> _Sorted:
    """One sorted array of the ids of both, each once: merged a slice at a time (sorted in C, no list of them all)."""
    a, b = first.ids, second.ids
    merged = array("q")
    taken = 0
    for start in range(0, len(a), _MERGE_SLICE):
        part = a[start : start + _MERGE_SLICE]
        # b's ids up to this slice's last (all the rest with the last slice) belong with it.
        end = len(b) if start + _MERGE_SLICE >= len(a) else bisect_right(b, part[-1], taken)
        merged.extend(sorted({*part, *b[taken:end]}))
        taken = end
    return _Sorted.of(merged)
