"""LipsHook: the LIPS connection, its session, and every request's rate limit and retries."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from airflow_provider_lips import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_PAGE,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REQUESTS_PER_SECOND,
)
from airflow_provider_lips.exceptions import (
    LipsApiError,
    LipsResponseError,
    LipsTransientError,
    LipsValidationError,
)
from airflow_provider_lips.query import ContactInteractionFilters, QueryParams, encode_query
from airflow_provider_lips.ratelimit import RateLimiter
from airflow_provider_lips.retry import RETRYABLE_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

CONTACT_INTERACTIONS_PATH = "/contact_interactions"
TOTALS_PATH = "/contact_interactions/totals"
MAX_PER_PAGE = 1000
_EXCERPT = 300
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_HINTS = {
    401: "check the connection's API token (password) and API key (extra 'api_key')",
    403: "these credentials may not read this advertiser or campaign; ask LocaliQ to grant access",
    422: "the server names the parameter it rejects",
}


class _WalkAborted(Exception):
    """The walk a queued or retrying page request belonged to has already failed."""


class _SecretSafeSession(requests.Session):
    """A session that drops ``x-api-key`` wherever requests drops ``Authorization``.

    requests strips only ``Authorization`` when a redirect leaves the original host (or
    downgrades https to http); the API key must not travel to another host either.
    """

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        original = response.request.url or ""
        if self.should_strip_auth(original, prepared_request.url or ""):
            prepared_request.headers.pop("x-api-key", None)
        super().rebuild_auth(prepared_request, response)


@dataclass(frozen=True)
class LipsClientSettings:
    """What a LIPS connection configures, validated. Secrets stay out of ``repr``."""

    base_url: str
    token: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    per_page: int = DEFAULT_PER_PAGE
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = RetryPolicy.max_attempts
    retry_base_wait: float = RetryPolicy.base_wait
    retry_max_wait: float = RetryPolicy.max_wait


@dataclass(frozen=True)
class Page:
    """One page of a paged LIPS listing."""

    number: int
    total_pages: int
    per_page: int
    records: list[dict[str, Any]]


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _positive(extra: dict[str, Any], key: str, default: float, conn_id: str, kind: type = float) -> Any:
    value = extra.get(key)
    if value is None or value == "":
        return kind(default)
    try:
        number = kind(value)
        ok = not isinstance(value, bool) and number > 0 and (kind is float or float(value) == number)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra '{key}' must be a positive {'integer' if kind is int else 'number'}, "
            f"got {value!r}; remove it to use the default {default}."
        )
    return number


class LipsHook(BaseHook):
    """Talk to the LIPS API: auth headers, one keep-alive session, a shared rate limit and retries.

    The connection's host is the base URL with its scheme, the password is the API token,
    and the extra may hold ``api_key``, ``request_timeout``, ``requests_per_second``,
    ``per_page``, ``concurrency``, ``max_attempts``, ``retry_base_wait``, ``retry_max_wait``
    and ``allow_insecure_http``.
    """

    conn_name_attr = "lips_conn_id"
    default_conn_name = "lips_default"
    conn_type = "lips"
    hook_name = "LIPS"

    def __init__(self, lips_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self.lips_conn_id = lips_conn_id
        self._retry_policy = retry_policy

    @cached_property
    def settings(self) -> LipsClientSettings:
        """Read and validate the connection; secrets are masked the moment they are read."""
        conn = self.get_connection(self.lips_conn_id)
        cid = self.lips_conn_id
        extra = conn.extra_dejson
        token = conn.password or ""
        api_key = extra.get("api_key") or None
        if token:
            mask_secret(token)
        if api_key:
            mask_secret(api_key)
        if not token:
            raise LipsValidationError(
                f"Connection {cid!r} has no API token: put the token LIPS issued you in the connection's password field."
            )
        if api_key is not None and not isinstance(api_key, str):
            raise LipsValidationError(
                f"Connection {cid!r}: extra 'api_key' must be a string, got {type(api_key).__name__}; "
                f"put the key in quotes or remove it."
            )
        settings = LipsClientSettings(
            base_url=self._base_url(conn.host, conn.schema, bool(extra.get("allow_insecure_http", False))),
            token=token,
            api_key=api_key,
            request_timeout=_positive(extra, "request_timeout", DEFAULT_REQUEST_TIMEOUT, cid),
            requests_per_second=_positive(extra, "requests_per_second", DEFAULT_REQUESTS_PER_SECOND, cid),
            per_page=_positive(extra, "per_page", DEFAULT_PER_PAGE, cid, int),
            concurrency=_positive(extra, "concurrency", DEFAULT_CONCURRENCY, cid, int),
            max_attempts=_positive(extra, "max_attempts", RetryPolicy.max_attempts, cid, int),
            retry_base_wait=_positive(extra, "retry_base_wait", RetryPolicy.base_wait, cid),
            retry_max_wait=_positive(extra, "retry_max_wait", RetryPolicy.max_wait, cid),
        )
        if settings.per_page > MAX_PER_PAGE:
            raise LipsValidationError(
                f"Connection {cid!r}: extra 'per_page' must be at most {MAX_PER_PAGE}, got {settings.per_page}; "
                f"lower it or remove it to use the default {DEFAULT_PER_PAGE}."
            )
        return settings

    def _base_url(self, host: str | None, schema: str | None, allow_insecure_http: bool) -> str:
        example = "https://data-connect-lips.ganettdigital.com"
        cid = self.lips_conn_id
        if not host:
            raise LipsValidationError(f"Connection {cid!r} has no host: set it to the LIPS base URL, e.g. {example}.")
        url = host.strip().rstrip("/")
        if "://" not in url and schema in ("http", "https"):
            url = f"{schema}://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LipsValidationError(
                f"Connection {cid!r} host {host!r} is not a base URL with a scheme: set it to e.g. {example}."
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise LipsValidationError(
                f"Connection {cid!r} host must be a plain base URL without credentials, query or fragment, "
                f"e.g. {example}; the token goes in the password field."
            )
        if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
            raise LipsValidationError(
                f"Connection {cid!r} uses plain http to {parts.hostname}, which would send the API token unencrypted: "
                f"use https, or set extra 'allow_insecure_http': true if you really mean it."
            )
        return url

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        settings = self.settings
        return self._retry_policy or RetryPolicy(
            max_attempts=settings.max_attempts, base_wait=settings.retry_base_wait, max_wait=settings.retry_max_wait
        )

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Shared by every request this hook sends, from any thread."""
        return RateLimiter(self.settings.requests_per_second)

    def get_conn(self) -> requests.Session:
        """The hook's keep-alive session carrying the documented headers."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        settings = self.settings
        session = _SecretSafeSession()
        session.headers.update(
            {
                "Authorization": f"token {settings.token}",
                "Accept": "*/*",
                "Content-Type": "application/json",
            }
        )
        if settings.api_key:
            session.headers["x-api-key"] = settings.api_key
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(settings.concurrency, 1), max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        if "_session" in self.__dict__:
            self._session.close()
            del self.__dict__["_session"]

    # -- one request ----------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        settings = self.settings
        for secret in (settings.token, settings.api_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _excerpt(self, text: str) -> str:
        text = self._redact(text.strip())
        return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"

    def request(self, path: str, params: QueryParams, abort: threading.Event | None = None) -> requests.Response:
        """GET ``path`` with rate limiting and retries; raise on any answer that is not 2xx.

        429, 5xx, dropped connections and timeouts are retried with exponential backoff and
        jitter (``Retry-After`` wins when the server sends it); a 429 pauses every request of
        this hook. 4xx answers fail at once with ``LipsApiError``. Setting ``abort`` stops
        the retries of a request whose walk has already failed.
        """
        query = encode_query(params)
        url = f"{self.settings.base_url}{path}?{query}" if query else f"{self.settings.base_url}{path}"
        what = f"GET {path}?{query}" if query else f"GET {path}"
        policy = self.retry_policy
        started = time.monotonic()
        for attempt in range(1, policy.max_attempts + 1):
            self.rate_limiter.acquire()
            if abort is not None and abort.is_set():
                raise _WalkAborted(what)
            try:
                response = self._session.get(url, timeout=self.settings.request_timeout)
            except _NETWORK_ERRORS as err:
                problem, wait = type(err).__name__, policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status not in RETRYABLE_STATUSES:
                    raise self._api_error(what, response)
                problem = f"HTTP {status}"
                wait = policy.wait_for(attempt, response.headers.get("Retry-After"))
                if status == 429:
                    self.rate_limiter.pause(wait)
            if attempt == policy.max_attempts or time.monotonic() - started + wait > policy.max_elapsed:
                raise LipsTransientError(
                    f"{what} failed after {attempt} attempt(s) in {time.monotonic() - started:.1f}s; "
                    f"last problem: {problem}. Airflow's task retries may try again later."
                )
            log.warning("%s: %s; retry %d/%d in %.2fs", what, problem, attempt, policy.max_attempts - 1, wait)
            if abort is None:
                time.sleep(wait)
            elif abort.wait(wait):
                raise _WalkAborted(what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _api_error(self, what: str, response: requests.Response) -> LipsApiError:
        status = response.status_code
        try:
            body = response.json()
            detail = body.get("message") or body.get("error") or body.get("name") if isinstance(body, dict) else None
        except ValueError:
            detail = None
        detail = self._excerpt(str(detail) if detail else response.text or response.reason or "")
        hint = _HINTS.get(status)
        return LipsApiError(
            f"LIPS answered {status} to {what}: {detail or '(empty body)'}" + (f" — {hint}." if hint else ""),
            status=status,
        )

    def get_json(self, path: str, params: QueryParams, abort: threading.Event | None = None) -> Any:
        """GET ``path`` and parse the body, failing clearly on a body that is not JSON."""
        response = self.request(path, params, abort)
        try:
            # msgspec (already an Airflow dependency) parses pages about twice as fast as json.
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError as err:
            raise LipsResponseError(
                f"GET {path}?{encode_query(params)} answered {response.status_code} with a body that is not JSON: "
                f"{self._excerpt(response.text)!r}"
            ) from err

    # -- paged listings ------------------------------------------------------------------

    def get_page(
        self,
        path: str,
        params: QueryParams,
        page: int,
        per_page: int,
        records_key: str,
        abort: threading.Event | None = None,
    ) -> Page:
        """Fetch one page and check it is the page asked for, with a list and a page count."""
        body = self.get_json(path, [*params, ("page", str(page)), ("per_page", str(per_page))], abort)
        where = f"page {page} of GET {path}?{encode_query(params)}"
        if not isinstance(body, dict) or not isinstance(body.get(records_key), list):
            shown = {k: v for k, v in body.items() if k != records_key} if isinstance(body, dict) else body
            raise LipsResponseError(f"{where} has no '{records_key}' list: {self._excerpt(json.dumps(shown))!r}")
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
        )

    def iter_pages(
        self,
        path: str,
        params: QueryParams,
        *,
        per_page: int | None = None,
        records_key: str = "contact_interactions",
        concurrency: int | None = None,
    ) -> Generator[Page, None, None]:
        """Yield every page of a listing in page order, fetching pages 2..N concurrently.

        Page 1 tells ``total_pages``; the rest go through a bounded pool (at most
        ``2 * concurrency`` pages held at once) that shares this hook's rate limit and
        backoff. If a later page reports more pages than page 1 did, the walk extends.
        """
        size = per_page or self.settings.per_page
        first = self.get_page(path, params, 1, size, records_key)
        yield first
        total = first.total_pages
        workers = concurrency or self.settings.concurrency
        if total <= 1:
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lips-page")
        pending: deque[Future[Page]] = deque()
        abort = threading.Event()
        next_page = 2
        try:
            while next_page <= total or pending:
                while next_page <= total and len(pending) < 2 * workers:
                    pending.append(pool.submit(self.get_page, path, params, next_page, size, records_key, abort))
                    next_page += 1
                page = pending.popleft().result()
                if page.total_pages > total:
                    log.info("Page %d reports %d pages, %d more than page 1: the list grew.", page.number, page.total_pages, page.total_pages - total)
                    total = page.total_pages
                yield page
        finally:
            # On failure or early exit, stop queued and retrying requests before returning.
            abort.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def get_contact_interaction_totals(self, params: QueryParams) -> dict[str, Any]:
        """Counts for the same filters as a listing (``events``, ``call_events``, ...)."""
        body = self.get_json(TOTALS_PATH, params)
        if not isinstance(body, dict) or not isinstance(body.get("events"), int):
            raise LipsResponseError(f"GET {TOTALS_PATH} answered without an integer 'events': {self._excerpt(json.dumps(body))!r}")
        return body

    def iter_contact_interactions(
        self,
        *,
        global_master_advertiser_id: str | list[str] | None = None,
        global_master_campaign_id: str | list[str] | None = None,
        phone_numbers: str | list[str] | None = None,
        event_types: list[str] | None = None,
        channels: list[str] | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        per_page: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every interaction matching the filters, each id once (dates are the API's inclusive ones)."""
        filters = ContactInteractionFilters.from_values(
            global_master_advertiser_id=global_master_advertiser_id,
            global_master_campaign_id=global_master_campaign_id,
            phone_numbers=phone_numbers,
            event_types=event_types,
            channels=channels,
        )
        dates = [(k, v) for k, v in (("start_date", start_date), ("end_date", end_date)) if v]
        seen: set[Any] = set()
        for params in filters.queries():
            with closing(self.iter_pages(CONTACT_INTERACTIONS_PATH, params + dates, per_page=per_page)) as pages:
                for page in pages:
                    for record in page.records:
                        if record.get("id") not in seen:
                            seen.add(record.get("id"))
                            yield record

    # -- the UI's Test button --------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with one request that needs no advertiser id.

        Without an advertiser or campaign id LIPS answers 422 once the credentials pass,
        and 401/403 when they do not, so 2xx and 422 both mean "accepted".
        """
        try:
            settings = self.settings
            response = self._session.get(
                f"{settings.base_url}{CONTACT_INTERACTIONS_PATH}?per_page=1", timeout=settings.request_timeout
            )
        except LipsValidationError as err:
            return False, str(err)
        except requests.RequestException as err:
            return False, self._redact(f"Could not reach {self.settings.base_url}: {type(err).__name__}: {err}")
        if response.status_code < 300 or response.status_code == 422:
            return True, f"Connected to {settings.base_url}: credentials accepted."
        return False, str(self._api_error(f"GET {CONTACT_INTERACTIONS_PATH}", response))
