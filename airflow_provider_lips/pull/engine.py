"""The one pull engine: walk every page of every query of a listing, keep each record of the window once,
check completeness against the listing's totals."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from airflow_provider_lips.client.endpoints import Endpoint
from airflow_provider_lips.client.paginator import Page
from airflow_provider_lips.client.query import ContactInteractionFilters, QueryParams, encode_query
from airflow_provider_lips.exceptions import LipsIncompleteError, LipsResponseError
from airflow_provider_lips.pii import Redactor
from airflow_provider_lips.pull import records as spelling
from airflow_provider_lips.pull.progress import DEFAULT_PROGRESS_INTERVAL, PullProgress
from airflow_provider_lips.pull.seen import Seen, SeenIds
from airflow_provider_lips.pull.stamps import lateness_seconds, window_moment
from airflow_provider_lips.pull.totals import TotalsCheck, TotalsUnavailable, totals_check
from airflow_provider_lips.pull.window import TimeWindow

log = logging.getLogger(__name__)

_IGNORES_ARCHIVED = "totals answered archived=true exactly as without it, so it does not count archived interactions"
# What the manifest says was compared when a query's listing fit on one page: that answer is the whole list.
SINGLE_PAGE = "single page"
# The longest listing walked from its last page down, one page at a time, with one totals call (Pull._first_walk):
# for a pull alone on its hook, and for one of several pulls sharing a hook and its rate budget (the batch operator).
SHORT_LISTING_PAGES = 10
SHARED_BUDGET_LISTING_PAGES = 100

Completeness = Literal["fail", "warn", "off"]
Sink = Callable[[list[dict[str, Any]]], object]


class PageSource(Protocol):
    """Where a pull gets its pages and totals: the :class:`~airflow_provider_lips.hooks.lips.LipsHook`."""

    def iter_pages(
        self, endpoint: Endpoint, params: QueryParams, *, expected_records: int | None = None,
        descending_from: int | None = None,
    ) -> Generator[Page, None, None]: ...

    def get_totals(self, endpoint: Endpoint, params: QueryParams) -> dict[str, Any]: ...


@dataclass
class PullStats:
    """What a pull saw; becomes part of the manifest."""

    records: int = 0
    archived: int = 0  # kept records carrying archived_at
    pages: int = 0
    walks: int = 0
    duplicates: int = 0
    outside_window: int = 0
    completeness: list[dict[str, Any]] = field(default_factory=list)
    lateness_seconds: array[float] = field(default_factory=lambda: array("d"))

    @property
    def complete(self) -> bool:
        """Every query was checked against the totals and agreed: the file holds all the filters select."""
        return bool(self.completeness) and all(check["completeness"] == "checked" for check in self.completeness)

    def lateness_summary(self) -> dict[str, float] | None:
        """p50, p99 and max of ``created_at - occurred_at`` over the kept interactions."""
        if not self.lateness_seconds:
            return None
        ordered = sorted(self.lateness_seconds)

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {"p50": pct(0.50), "p99": pct(0.99), "max": round(ordered[-1], 3)}


class Pull:
    """One pull of ``endpoint``: every query of ``filters`` over ``window``, pages fanned out by the hook.

    Records are passed to ``sink`` a page at a time, in the order the pages are walked, each id
    once and only when ``window.start <= record[endpoint.time_field] < window.end`` (any documented
    spelling of the field). With ``completeness`` on, page 1 comes first: a listing that fits
    on one page is complete by that one answer (nothing can shift between pages), so it costs
    one request. A longer listing (with totals) is walked again, page 1 included, and checked
    against totals; if the counts disagree, the list changed under us and the query is walked
    once more, from page 1 between two totals calls. The first walk (see :meth:`_first_walk`) is

    - for a listing of at most ``descending_pages`` pages: pages ``n`` down to 1, one at a time, then
      totals once: ``n + 2`` requests with the probe;
    - for a longer one: totals, pages 1..n fetched concurrently, totals: ``n + 3``.

    ``descending_pages`` is ``SHORT_LISTING_PAGES`` for a pull alone, where one page at a time would
    slow a long listing; ``SHARED_BUDGET_LISTING_PAGES`` for one of several pulls sharing a hook,
    whose other walks keep the rate budget busy meanwhile.

    Filters the totals cannot speak for are recorded as not checkable (see
    :mod:`~airflow_provider_lips.pull.totals`); their longer listings are walked once, without
    totals. Requests per query: 1 for one page, ``n + 2`` or ``n + 3`` for ``n > 1`` pages checked
    against totals (``2n + 3`` or ``2n + 4`` when the list moved), ``n`` when not checkable or with
    completeness off. With ``include_archived`` every query is also
    walked with ``archived=true``, which lists only the archived records. Page size and
    concurrency are the hook's.
    With a ``redactor`` (a compiled PII policy), every kept record is passed through it before
    the sink sees it, and error messages quote records only as the policy leaves them.
    """

    def __init__(
        self,
        hook: PageSource,
        endpoint: Endpoint,
        filters: ContactInteractionFilters,
        window: TimeWindow,
        *,
        completeness: Completeness = "fail",
        redactor: Redactor | None = None,
        include_archived: bool = False,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        descending_pages: int = SHORT_LISTING_PAGES,
    ) -> None:
        self.hook = hook
        self.redactor = redactor
        self.endpoint = endpoint
        self.filters = filters
        self.window = window
        self.include_archived = include_archived
        self.descending_pages = descending_pages
        self.progress = PullProgress(endpoint.name, interval=progress_interval)
        self.completeness: Completeness = completeness if endpoint.totals_path else "off"
        self.check: TotalsCheck = totals_check(filters)
        self.stats = PullStats()
        # Every id met, by walk: dedupe across walks and a distinct count per walk.
        self._seen = SeenIds()
        # The last totals body of each query, to tell whether the server applies archived=true to totals.
        self._bodies: dict[tuple[tuple[str, str], ...], Any] = {}

    def run(self, sink: Sink) -> PullStats:
        start_date, end_date = self.window.server_dates()
        queries = [[*q, ("start_date", start_date), ("end_date", end_date)] for q in self.filters.queries()]
        if self.include_archived:
            queries += [[*q, ("archived", "true")] for q in queries]
        self.progress.begin(len(queries))
        for number, params in enumerate(queries, 1):
            label = f"query {number}/{len(queries)} ({encode_query(params)})"
            if self.completeness == "off":
                self._walk(params, sink, label)
                continue
            # Page 1 first; a checkable listing stops there when it has more pages, to be walked and checked.
            seen, _, announced = self._walk(params, sink, label, first_page_only=self.check.checkable)
            total_pages = max(announced, default=0)
            if total_pages <= 1:
                self._record_check(label, params, "checked", walks=1, seen=seen, compared=SINGLE_PAGE)
                continue
            if not self.check.checkable:
                self._record_check(label, params, f"not checkable: {self.check.reason}", walks=1)
                continue
            self._checked_walks(params, sink, label, total_pages)
        self.progress.finish()
        self._warn_empty_advertisers(queries)
        return self.stats

    def _warn_empty_advertisers(self, queries: list[list[tuple[str, str]]]) -> None:
        """An advertiser the server listed nothing for over the whole window may be a mistyped gmaid: say so, without
        failing (an advertiser with no activity in the window looks the same)."""
        start_date, end_date = self.window.server_dates()
        for gmaid in self.filters.advertiser_ids:
            param = ("global_master_advertiser_id", gmaid)
            if not any(self.progress.served(tuple(params)) for params in queries if param in params):
                log.warning(
                    "global_master_advertiser_id %r: LIPS listed no %s for it from %s to %s (the server dates around the "
                    "window). Check the gmaid (e.g. 'USA_1': a typo or another region's id looks like this) and that these "
                    "credentials may read it; an advertiser without activity in the window also looks like this.",
                    gmaid, self.endpoint.name, start_date, end_date,
                )

    def _checked_walks(self, params: list[tuple[str, str]], sink: Sink, label: str, pages: int) -> None:
        """Walk once and check against totals, twice if the list moved; fail or warn if it kept moving."""
        check = self.check
        try:
            after, seen, moved = self._first_walk(params, sink, label, pages)
        except TotalsUnavailable as why:  # e.g. a channel filter against flat totals
            self._record_check(label, params, f"not checkable: {why}", walks=1)
            return
        if moved is None:
            self._record_check(label, params, "checked", walks=1, totals=after, seen=seen)
            return
        if self._totals_ignore_archived(params):
            self._record_check(label, params, f"not checkable: {_IGNORES_ARCHIVED}", walks=1, totals=after, seen=seen)
            return
        log.warning("%s: %s; the list changed, walking again.", label, moved)
        seen, fpd, _ = self._walk(params, sink, label, expected=after)
        final = self._server_count(params)
        agreed = after == final and check.agrees(final, seen, fpd)
        self._record_check(label, params, "checked" if agreed else "mismatch", walks=2, totals=final, seen=seen)
        if not agreed:
            message = (
                f"{label}: {self.endpoint.totals_path} moved from {after} to {final} {self.endpoint.name} during the "
                f"second walk, which saw {seen} distinct ones (compared with {check.label}); the output may miss "
                f"{self.endpoint.name}. "
            )
            if self.completeness == "fail":
                raise LipsIncompleteError(message + "Rerun later, or set completeness='warn' to accept this.")
            log.warning("%sRerun later to fill the gap.", message)

    def _first_walk(self, params: list[tuple[str, str]], sink: Sink, label: str, pages: int) -> tuple[int, int, str | None]:
        """Walk a listing the probe found ``pages`` long and count it with totals; return the last totals count,
        the distinct ids walked, and how the counts disagreed (None: the walk holds the whole list).

        The one choke point of the walking order. Up to ``descending_pages`` pages: pages n, n-1, ..., 1,
        each asked only after the one before answered, then totals once (T). A change at a position on a
        page already read (a higher number) moves no record into or out of the pages still to read, so it
        is harmless or changes T against what the walk saw; an insertion on a page still to read pushes
        one record onto a read page (missed: the walk sees one fewer than T counts) and a deletion there
        pulls one onto a page still to read (read twice, harmless). So the walk holds the whole list when
        it saw as many distinct ids as T counts and every page announced the same page count. Page 1 is
        read again, last: the probe's copy cannot stand in, as a deletion on page 1 after the probe pulls
        page 2's first record onto it unseen while the counts still agree. With two pages in flight the
        server could answer them in either order and miss the same way, hence one at a time. That costs a
        lone pull throughput on long listings, so those keep the concurrent walk between two totals calls
        (the first also bounds the walk: page 1's page count alone is not trusted past ``descending_pages``).
        Raises :class:`TotalsUnavailable` after walking the pages when totals cannot count this query.
        """
        check = self.check
        if pages <= self.descending_pages:
            seen, fpd, announced = self._walk(params, sink, label, descending_from=pages)
            after = self._server_count(params)
            if announced != {pages}:
                return after, seen, f"its pages announced {sorted(announced)} pages, page 1 before it {pages}"
            if not check.agrees(after, seen, fpd):
                return after, seen, f"{check.label} said {after} after the walk from page {pages} down, which saw {seen} distinct"
            return after, seen, None
        try:
            before = self._server_count(params)
        except TotalsUnavailable:
            self._walk(params, sink, label)  # the records still land, unchecked
            raise
        seen, fpd, _ = self._walk(params, sink, label, expected=before)  # the totals bound the walk
        after = self._server_count(params)
        if before == after and check.agrees(after, seen, fpd):
            return after, seen, None
        return after, seen, f"{check.label} said {before} before and {after} after the walk, which saw {seen} distinct"

    def _server_count(self, params: list[tuple[str, str]]) -> int:
        """The count the listing's totals report for ``params`` that this pull's filters match."""
        body = self.hook.get_totals(self.endpoint, params)
        self._bodies[tuple(params)] = body
        return self.check.count(body, f"GET {self.endpoint.totals_path}")

    def _totals_ignore_archived(self, params: list[tuple[str, str]]) -> bool:
        """Whether an archived query's totals answered exactly what the live query's did.

        The vendor does not document that totals applies ``archived``; if it does not, the
        archived walk can never match it, and saying so beats failing a correct pull.
        """
        if ("archived", "true") not in params:
            return False
        live = tuple(param for param in params if param != ("archived", "true"))
        return live in self._bodies and self._bodies[live] == self._bodies[tuple(params)]

    def _record_check(
        self, label: str, params: list[tuple[str, str]], outcome: str, *, walks: int,
        totals: int | None = None, seen: int | None = None, compared: str | None = None,
    ) -> None:
        self.stats.completeness.append({
            "query": label,
            "archived": ("archived", "true") in params,
            "completeness": outcome,
            "compared": compared or (self.check.label if self.check.checkable else None),
            "server_totals": totals,
            "distinct_seen": seen,
            "walks": walks,
        })

    def _walk(
        self, params: list[tuple[str, str]], sink: Sink, label: str, *, first_page_only: bool = False,
        expected: int | None = None, descending_from: int | None = None,
    ) -> tuple[int, int, set[int]]:
        """Walk one query's pages (only page 1 with ``first_page_only``; from page ``descending_from`` down to 1,
        one at a time, with it); return the distinct ids this walk saw, how many of them were FPD events, and
        the page counts its pages announced."""
        stats, seen, window, time_field = self.stats, self._seen, self.window, self.endpoint.time_field
        see = seen.see
        seen.begin_walk()  # page-1 probes are walks too (stats.walks counts whole walks only)
        distinct = fpd = 0
        announced: set[int] = set()
        pages = self.hook.iter_pages(self.endpoint, params, expected_records=expected, descending_from=descending_from)
        # closing(): when the sink fails, the page generator stops its queued and in-flight requests.
        with closing(pages):
            for page in pages:
                kept: list[dict[str, Any]] = []
                for record in page.records:
                    key = record.get("id") if isinstance(record, dict) else None
                    if key is None:
                        raise LipsResponseError(f"{label}: page {page.number} holds a record without an 'id': {self._excerpt(record)!r}")
                    met = see(key)
                    if met is not Seen.THIS_WALK:
                        distinct += 1
                        fpd += spelling.event_type(record) == "fpd"
                    if met is not Seen.NEW:
                        stats.duplicates += met is Seen.THIS_WALK
                        continue
                    # Present but unreadable fails naming the record and field (pull/stamps.py); absent is outside.
                    occurred = window_moment(record, time_field, f"{label}: page {page.number}", quote=self.redactor is None)
                    if occurred is None or not window.contains(occurred):
                        stats.outside_window += 1
                        continue
                    kept.append(record)
                    stats.archived += record.get("archived_at") is not None
                    # lateness: how long after the window's moment the vendor ingested it; unreadable created_at is left out
                    late = lateness_seconds(record, occurred) if time_field != "created_at" else None
                    if late is not None:
                        stats.lateness_seconds.append(late)
                if kept:
                    sink(self.redactor.apply_all(kept) if self.redactor else kept)
                stats.records += len(kept)
                stats.pages += 1
                log.debug(
                    "%s: page %d of %d, %d kept, %d %s so far.",
                    label, page.number, page.total_pages, len(kept), stats.records, self.endpoint.name,
                )
                self.progress.page(tuple(params), page.number, page.total_pages, page.per_page, len(page.records))
                announced.add(page.total_pages)
                if first_page_only and page.total_pages > 1:
                    return distinct, fpd, announced  # a probe: this query is walked again and checked
        stats.walks += 1
        return distinct, fpd, announced

    def _excerpt(self, record: Any) -> str:
        """A record as an error message may quote it: as the PII policy leaves it, if there is one."""
        if self.redactor is None:
            return str(record)[:200]
        if isinstance(record, dict):
            return str(self.redactor.apply(record))[:200]
        return f"<a {type(record).__name__}, withheld by the PII policy>"
