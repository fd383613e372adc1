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

from airflow_provider_lips import DEFAULT_MAX_BYTES_IN_FLIGHT
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

    def iter_pages(self, path: str, params: QueryParams, *, records_key: str) -> Generator[Page, None, None]:
        """Yield every page of a listing in page order, fetching pages 2..N concurrently.

        Page 1 tells ``total_pages`` and how big a page is; the rest go through a bounded pool
        that shares the requester's rate limit and backoff. At most ``2 * concurrency`` pages,
        and at most ``max_bytes_in_flight`` bytes of them (counting each page as large as the
        largest seen so far), are held at once, and never fewer than one page ahead. If a later
        page reports more pages than page 1 did, the walk extends.
        """
        first = self.get_page(path, params, 1, records_key)
        total, largest = first.total_pages, first.size
        yield first
        del first  # the caller has it; holding it here would keep its records through the walk
        workers = self.concurrency
        if total <= 1:
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lips-page")
        pending: deque[Future[Page]] = deque()
        abort = threading.Event()
        next_page = 2
        try:
            while next_page <= total or pending:
                # One page is with the caller; the rest of the byte budget is for pages ahead.
                ahead = min(2 * workers, max(1, self.max_bytes_in_flight // max(largest, 1) - 1))
                while next_page <= total and len(pending) < ahead:
                    pending.append(pool.submit(self.get_page, path, params, next_page, records_key, abort))
                    next_page += 1
                page = pending.popleft().result()
                largest = max(largest, page.size)
                if page.total_pages > total:
                    log.info(
                        "Page %d reports %d pages, %d more than page 1: the list grew.",
                        page.number, page.total_pages, page.total_pages - total,
                    )
                    total = page.total_pages
                yield page
        finally:
            # On failure or early exit, stop queued and retrying requests before returning.
            abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
