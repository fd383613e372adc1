"""What a user watching a long pull's log sees: a line every few seconds, not one per page.

Each query's page 1 tells how many pages it has and how many records a page holds, so the
pages and records still to come are known for every query whose walk has begun. A query
walked again (to check completeness, or because the list moved) counts each of its pages
once, so the percentage never runs past 100.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DEFAULT_PROGRESS_INTERVAL = 10.0  # seconds between progress lines; a shorter pull logs none


@dataclass
class _Query:
    """One query as its pages announced it: page count, page size, and the records of each page seen."""

    total_pages: int = 0
    per_page: int = 0
    records: dict[int, int] = field(default_factory=dict)  # page number -> records it held

    @property
    def expected_records(self) -> int:
        """Exact once every page was seen; until then the unseen pages count as full."""
        unseen = max(0, self.total_pages - len(self.records))
        return sum(self.records.values()) + unseen * self.per_page


class PullProgress:
    """Count the pages of a pull and log where it stands every ``interval`` seconds."""

    def __init__(self, noun: str, *, interval: float = DEFAULT_PROGRESS_INTERVAL) -> None:
        self.noun = noun
        self.interval = interval
        self.begin(0)

    def begin(self, queries: int) -> None:
        """Start counting a pull of ``queries`` queries now."""
        self.queries = queries
        self.started = self._last_line = time.monotonic()
        self.lines = self._pages_at_last_line = 0
        self._by_query: dict[Hashable, _Query] = {}

    def page(self, query: Hashable, number: int, total_pages: int, per_page: int, records: int) -> None:
        """Count page ``number`` of ``query`` (again, if it was walked before); log a line when one is due."""
        state = self._by_query.setdefault(query, _Query())
        state.total_pages = max(state.total_pages, total_pages)
        state.per_page = max(state.per_page, per_page)
        state.records[number] = records
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.lines += 1
            self._pages_at_last_line = self._done_pages()
            log.info("Progress: %s", self.describe(now))

    def served(self, query: Hashable) -> int:
        """Records the server listed for ``query`` (each page once), whether or not the window kept them."""
        state = self._by_query.get(query)
        return sum(state.records.values()) if state else 0

    def finish(self) -> None:
        """After a pull that logged progress, one last line at 100 % (unless the last one was), so the log
        ends where the pull did."""
        if self.lines and self._pages_at_last_line != self._done_pages():
            log.info("Progress: %s", self.describe(time.monotonic()))

    def _done_pages(self) -> int:
        return sum(len(state.records) for state in self._by_query.values())

    def describe(self, now: float) -> str:
        """Pages and records done of the known total, rates, elapsed time and ETA."""
        states = self._by_query.values()
        done_pages = self._done_pages()
        done_records = sum(sum(state.records.values()) for state in states)
        known_pages = sum(max(state.total_pages, len(state.records)) for state in states)
        known_records = sum(state.expected_records for state in states)
        begun = len(self._by_query)
        unsized = max(0, self.queries - begun)
        if unsized and begun:  # queries not begun yet are taken to be as large as the average one begun
            known_pages += round(unsized * known_pages / begun)
            known_records += round(unsized * known_records / begun)
        exact = not unsized and done_pages >= known_pages
        about = "" if exact else "~"
        elapsed = max(now - self.started, 1e-9)
        page_rate, record_rate = done_pages / elapsed, done_records / elapsed
        eta = f"ETA {_duration((known_pages - done_pages) / page_rate)}" if page_rate else "ETA unknown"
        begun_note = f", {begun} begun" if unsized else ""
        return (
            f"{done_pages:,}/{about}{known_pages:,} pages ({_percent(done_pages, known_pages)}), "
            f"{done_records:,}/{about}{known_records:,} {self.noun} listed ({_percent(done_records, known_records)}) "
            f"of {self.queries} quer{'y' if self.queries == 1 else 'ies'}{begun_note}; "
            f"{page_rate:.1f} pages/s, {record_rate:,.0f} {self.noun}/s; elapsed {_duration(elapsed)}, {eta}."
        )


def _percent(done: int, total: int) -> str:
    return f"{100 * done / total:.1f}%" if total else "100.0%"


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for a log line, exact enough to plan by."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
