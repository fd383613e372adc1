"""Page/per_page/total_pages listings, with pages 2..N fetched concurrently."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow_provider_lips.client.defaults import DEFAULT_MAX_BYTES_IN_FLIGHT
from airflow_provider_lips.client.query import QueryParams, encode_query
from airflow_provider_lips.client.requester import Requester
from airflow_provider_lips.exceptions import LipsResponseError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """One page of a paged LIPS listing."""

    number: int
    total_pages: int
    per_page: int
    records: list[dict[str, Any]]
    size: int = 0  # bytes of the body it came in


class PagePaginator:
    """Walk a listing that answers ``{<records_key>: [...], "page", "per_page", "total_pages"}``.

    ``per_page`` is the page size asked for; ``concurrency`` the requests in flight at once;
    ``max_bytes_in_flight`` bounds the page bodies held at once (fetching, fetched and not yet
    consumed, and the one the caller is working on), so memory follows bytes, not page count.
    """

    def __init__(
        self,
        requester: Requester,
        *,
        per_page: int,
        concurrency: int,
        max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    ) -> None:
        self.requester = requester
        self.per_page = per_page
        self.concurrency = concurrency
        self.max_bytes_in_flight = max_bytes_in_flight

    def get_page(
        self, path: str, params: QueryParams, page: int, records_key: str, abort: threading.Event | None = None
    ) -> Page:
        """Fetch one page and check it is the page asked for, with a list and a page count."""
        per_page = self.per_page
        body, size = self.requester.get_json_sized(
            path, [*params, ("page", str(page)), ("per_page", str(per_page))], abort
        )
        where = f"page {page} of GET {path}?{encode_query(params)}"
        if not isinstance(body, dict) or not isinstance(body.get(records_key), list):
            shown = {k: v for k, v in body.items() if k != records_key} if isinstance(body, dict) else body
            raise LipsResponseError(f"{where} has no '{records_key}' list: {self.requester.body_excerpt(json.dumps(shown))!r}")
        total = body.get("total_pages")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise LipsResponseError(f"{where} has no usable 'total_pages' (got {total!r}).")
        answered = body.get("page", page)
        if str(answered) != str(page):
            raise LipsResponseError(f"{where} answered for page {answered!r} instead.")
        served = body.get("per_page")
        return Page(
            number=page,
            total_pages=total,
            per_page=served if isinstance(served, int) and served > 0 else per_page,
            records=body[records_key],
            size=size,
        )

    def iter_pages(
        self, path: str, params: QueryParams, *, records_key: str, expected_records: int | None = None,
        descending_from: int | None = None,
    ) -> Generator[Page, None, None]:
        """Yield every page of a listing in page order, fetching pages 2..N concurrently.

        Page 1 tells ``total_pages`` and how big a page is; the rest go through a bounded pool
        that shares the requester's rate limit and backoff. At most ``2 * concurrency`` pages,
        and at most ``max_bytes_in_flight`` bytes of them (counting each page as large as the
        largest seen so far), are held at once, and never fewer than one page ahead. If a later
        page reports more pages than page 1 did, the walk extends.

        The page count is not trusted (:class:`WalkBounds`): the walk asks for no page past the
        first empty one, and with ``expected_records`` (what the listing's totals count) for no
        more than a small multiple of the pages those need.

        With ``descending_from=N`` (a page count the caller already knows and bounds) the walk is
        pages N, N-1, ..., 1 instead, strictly one at a time: each page is asked for only after the
        one before it answered and was handed on, so the server serves them in that order. The pull
        engine relies on that order to prove a short listing with one totals call (pull/engine.py).
        """
        where = f"GET {path}?{encode_query(params)}"
        same = _SamePages(where)
        if descending_from is not None:
            for number in range(descending_from, 0, -1):
                page = self.get_page(path, params, number, records_key)
                same.check(page)
                yield page
            return
        first = self.get_page(path, params, 1, records_key)
        bounds = WalkBounds(where, first, expected_records)
        total, largest = bounds.total, first.size
        same.check(first)
        yield first
        workers = self.concurrency
        if total <= 1:
            return
        del first  # the caller has it; holding it here would keep its records through the walk
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lips-page")
        pending: deque[Future[Page]] = deque()
        abort = threading.Event()
        next_page = 2
        walked = False
        try:
            while next_page <= total or pending:
                # One page is with the caller; the rest of the byte budget is for pages ahead.
                ahead = min(2 * workers, max(1, self.max_bytes_in_flight // max(largest, 1) - 1))
                while next_page <= total and len(pending) < ahead:
                    pending.append(pool.submit(self.get_page, path, params, next_page, records_key, abort))
                    next_page += 1
                page = pending.popleft().result()
                largest = max(largest, page.size)
                same.check(page)
                total = bounds.after(page)  # pages already asked for past an empty one are still handed on
                yield page
            walked = True
        finally:
            # On failure or early exit, stop queued and retrying requests before returning. After the last page
            # the threads are idle and leave on their own: waiting for them one after the other cost a loaded
            # machine up to a second at the end of every pull (measured, docs/rate-budget.md).
            abort.set()
            pool.shutdown(wait=not walked, cancel_futures=True)


class _SamePages:
    """Tell a server that ignores ``page``, in either walking order.

    Ids are unique in a listing: three consecutive pages holding the same ones are one page
    served again and again (two can be, once, when exactly a page of records is inserted at
    the front between their requests). Only the ids are kept: the pages are the caller's.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.previous: tuple[Any, ...] | None = None
        self.run_from = 0  # the page the current run of identical pages began on
        self.repeats = 0

    def check(self, page: Page) -> None:
        """Take in the next page walked; :class:`LipsResponseError` on the third identical one in a row."""
        ids = tuple(record.get("id") if isinstance(record, dict) else None for record in page.records)
        same = None not in ids and bool(ids) and ids == self.previous
        self.repeats = self.repeats + 1 if same else 0
        self.run_from = self.run_from if same else page.number
        self.previous = ids
        if self.repeats == 2:
            low, high = sorted((self.run_from, page.number))
            raise LipsResponseError(
                f"pages {low} to {high} of {self.where} hold exactly the same records: the server "
                f"ignores 'page', so walking its {page.total_pages} pages would read them again and again."
            )


class WalkBounds:
    """How far a walk goes, when the page count may lie (docs/hostile-servers.md).

    - No page past the first empty one: a listing's pages are consecutive slices, so an empty
      page is its end, whatever ``total_pages`` claims (pages already in flight past it are still read).
    - With the listing's totals (``expected``): at most ``2 * ceil(expected / per_page) + 2`` pages,
      room for a list that grows while it is walked (and for records the totals may not count,
      such as FPD events) yet a small multiple of what the data needs. If the last page allowed is
      still full, the page count and the totals contradict each other: :class:`LipsResponseError`.
    """

    def __init__(self, where: str, first: Page, expected: int | None) -> None:
        self.where = where
        self.expected = expected
        self.claimed = first.total_pages
        self.per_page = first.per_page
        self.cap = None if expected is None else 2 * -(-expected // first.per_page) + 2
        self.ended = 1 if not first.records and first.total_pages > 1 else None
        if self.ended:
            log.warning("%s: page 1 is empty although it announces %d pages; the listing ends there.", where, self.claimed)
        elif self.cap is not None and self.claimed > self.cap:
            log.warning(
                "%s: page 1 announces %d pages, but the totals count %d (%d pages of %d); walking at most %d pages.",
                where, self.claimed, expected, -(-(expected or 0) // self.per_page), self.per_page, self.cap,
            )

    @property
    def total(self) -> int:
        """The last page to ask for."""
        last = self.claimed if self.cap is None else min(self.claimed, self.cap)
        return last if self.ended is None else min(last, self.ended)

    def after(self, page: Page) -> int:
        """Take in ``page`` (its records and its own page count); return the last page to ask for now."""
        if page.total_pages > self.claimed:
            log.info(
                "Page %d reports %d pages, %d more than page 1: the list grew.",
                page.number, page.total_pages, page.total_pages - self.claimed,
            )
            self.claimed = page.total_pages
        if not page.records and page.number < self.claimed and self.ended is None:
            self.ended = page.number
            log.warning(
                "%s: page %d is empty although the listing announces %d pages; it ends there, no later page is asked for.",
                self.where, page.number, self.claimed,
            )
        if self.cap is not None and page.number == self.cap < self.claimed and len(page.records) >= self.per_page:
            raise LipsResponseError(
                f"{self.where}: the listing announces {self.claimed} pages and page {page.number} is still full, but its "
                f"totals count {self.expected} records ({-(-(self.expected or 0) // self.per_page)} pages of "
                f"{self.per_page}): the page count and the totals contradict each other. Stopped after {page.number} "
                f"pages instead of walking {self.claimed}."
            )
        return self.total
