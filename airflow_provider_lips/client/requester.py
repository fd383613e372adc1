"""The one request choke point: session, authentication, rate limit, retries and error mapping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from functools import cached_property
from typing import Any, Protocol

import requests

from airflow_provider_lips import __version__
from airflow_provider_lips.client.auth import LipsAuth
from airflow_provider_lips.client.bounds import network_problem, redirect_bound
from airflow_provider_lips.client.decoding import decode_json
from airflow_provider_lips.client.handshake import tls_error
from airflow_provider_lips.client.query import QueryParams, encode_query
from airflow_provider_lips.client.ratelimit import RateLimiter
from airflow_provider_lips.client.retry import RETRYABLE_STATUSES, RetryPolicy
from airflow_provider_lips.client.settings import LipsClientSettings
from airflow_provider_lips.client.watchdog import WatchedAdapter, answer_within
from airflow_provider_lips.exceptions import LipsApiError, LipsTransientError

log = logging.getLogger(__name__)

_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_HINTS = {
    403: "these credentials may not read this advertiser or campaign; ask LocaliQ to grant access",
    422: "the server names the parameter it rejects",
}


class RateBudget(Protocol):
    """What the requester draws from before each request; a 429 pauses everyone drawing from it."""

    def acquire(self) -> None: ...

    def pause(self, seconds: float, *, hinted: bool = True) -> bool: ...


class WalkAborted(Exception):
    """The walk a queued or retrying page request belonged to has already failed."""


class _NoAuth(requests.auth.AuthBase):
    """Keeps the session's own authenticator off a request to another service (a token endpoint)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class SecretSafeSession(requests.Session):
    """A session that drops ``x-api-key`` wherever requests drops ``Authorization``.

    requests strips only ``Authorization`` when a redirect leaves the original host (or
    downgrades https to http); the API key must not travel to another host either.
    """

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        original = response.request.url or ""
        if self.should_strip_auth(original, prepared_request.url or ""):
            prepared_request.headers.pop("x-api-key", None)
        super().rebuild_auth(prepared_request, response)


class Requester:
    """Send every LIPS request: one keep-alive session, the authenticator, a rate budget, retries.

    ``auth`` adds the credentials (:mod:`airflow_provider_lips.client.auth`); the requester
    asks it to refresh after a 401 and to redact its secrets from messages.

    ``rate_limiter`` is any object with ``acquire()`` and ``pause(seconds)``; by default an
    in-process pacer at the connection's ``requests_per_second``.
    """

    # False while a PII policy is on: a body that may hold records is never quoted in an error.
    quote_bodies = True

    def __init__(
        self,
        settings: LipsClientSettings,
        auth: LipsAuth,
        *,
        rate_limiter: RateBudget | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.rate_limiter: RateBudget = rate_limiter or RateLimiter(settings.requests_per_second)
        self.retry_policy = retry_policy or settings.retry_policy
        self.auth = auth

    @cached_property
    def session(self) -> requests.Session:
        session = SecretSafeSession()
        session.headers.update(
            {"Accept": "*/*", "Content-Type": "application/json", "User-Agent": f"airflow-provider-lips/{__version__}"}
        )
        session.auth = self.auth
        # A redirect's body is read by requests itself: bounded by this hook first (client/bounds.py).
        session.hooks["response"].append(redirect_bound(self.settings.max_response_bytes, self.settings.response_deadline))
        adapter = WatchedAdapter(pool_connections=1, pool_maxsize=max(self.settings.concurrency, 1), max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def redact(self, text: str) -> str:
        return self.auth.redact(text)

    def excerpt(self, text: str) -> str:
        return self.auth.excerpt(text)

    def body_excerpt(self, text: str) -> str:
        """An excerpt of a 2xx body that may hold records, unless a PII policy forbids quoting it."""
        return self.excerpt(text) if self.quote_bodies else f"({len(text)} characters withheld: a PII policy is on)"

    def url(self, path: str, params: QueryParams = ()) -> str:
        query = encode_query(params)
        return f"{self.settings.base_url}{path}?{query}" if query else f"{self.settings.base_url}{path}"

    def request(self, path: str, params: QueryParams, abort: threading.Event | None = None) -> requests.Response:
        """GET ``path`` of the LIPS API; see :meth:`send` for retries and errors."""
        query = encode_query(params)
        return self.send("GET", self.url(path, params), what=f"GET {path}?{query}" if query else f"GET {path}", abort=abort)

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        abort: threading.Event | None = None,
        rate_limited: bool = True,
        accept_statuses: Collection[int] = (),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request with rate limiting and retries; raise on any answer that is not 2xx.

        5xx, dropped connections and timeouts are retried with exponential backoff and
        jitter (``Retry-After`` wins when the server sends it); a 429 pauses every request
        drawing from the same rate budget until the vendor's one-second window is over
        (:meth:`RetryPolicy.wait_after_429`), unless the budget's own count of sends explains
        it (:meth:`SharedRateBudget.pause`). Other 4xx answers fail at once with
        ``LipsApiError`` (or are returned, if in ``accept_statuses``), except a 401 the
        authenticator can cure by refreshing its credentials, which is sent once more.
        Setting ``abort`` stops the retries of a request whose walk has already failed.
        ``kwargs`` go to ``requests`` (e.g. ``data=``, or ``auth=`` for a call to another
        service, such as a token endpoint, that must not carry the API credentials).
        """
        policy = self.retry_policy
        started = time.monotonic()
        refreshed = "auth" in kwargs  # only the session's own authenticator is asked to refresh
        attempt = 0
        while True:
            attempt += 1
            if rate_limited:
                self.rate_limiter.acquire()
            if abort is not None and abort.is_set():
                raise WalkAborted(what)
            try:
                # Headers and body within response_deadline, the body within max_response_bytes (client/watchdog.py,
                # client/bounds.py): a trickle times out like a hang.
                response = answer_within(
                    lambda: self.session.request(method, url, timeout=self.settings.request_timeout, stream=True, **kwargs),
                    max_bytes=self.settings.max_response_bytes, deadline=self.settings.response_deadline, what=what,
                )
            except requests.exceptions.SSLError as err:  # a ConnectionError, but no retry can cure it
                raise tls_error(what, url, err) from None
            except _NETWORK_ERRORS as err:
                problem, wait = network_problem(err), policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400 or status in accept_statuses:
                    return response
                if status == 401 and not refreshed and self.auth.refresh(response):
                    refreshed = True
                    attempt -= 1
                    continue
                if status not in RETRYABLE_STATUSES:
                    raise self.api_error(what, response)
                problem = f"HTTP {status}"
                hint = response.headers.get("Retry-After")
                wait = policy.wait_after_429(attempt, hint) if status == 429 else policy.wait_for(attempt, hint)
                # A first 429 without Retry-After may be the budget's own near miss (it decides): then
                # the request goes again as soon as the budget's send window lets it.
                if status == 429 and rate_limited and not self.rate_limiter.pause(wait, hinted=hint is not None or attempt > 1):
                    wait = 0.0
            if attempt == policy.max_attempts or time.monotonic() - started + wait > policy.max_elapsed:
                raise LipsTransientError(
                    f"{what} to {self.settings.base_url} failed after {attempt} attempt(s) in "
                    f"{time.monotonic() - started:.1f}s; last problem: {problem}. Airflow's task retries may try again later."
                )
            log.warning("%s: %s; retry %d/%d in %.2fs", what, problem, attempt, policy.max_attempts - 1, wait)
            if abort is None:
                time.sleep(wait)
            elif abort.wait(wait):
                raise WalkAborted(what)

    def send_token_request(self, url: str, body: Mapping[str, str], *, what: str) -> requests.Response:
        """POST an OAuth2 grant (:class:`~airflow_provider_lips.client.oauth2.TokenRequest`): retried like any
        request, but outside the API's rate budget, without its credentials, and not redirected."""
        return self.send(
            "POST",
            url,
            what=what,
            rate_limited=False,  # the vendor's 20/s is the API's; the token endpoint is another service
            accept_statuses=(400, 401),
            auth=_NoAuth(),
            json=dict(body),
            allow_redirects=False,  # a redirect must not carry the secrets in the body elsewhere
        )

    def api_error(self, what: str, response: requests.Response) -> LipsApiError:
        """A ``LipsApiError`` naming the status, the request, the server's reason and a hint."""
        status = response.status_code
        try:
            body = response.json()
            detail = body.get("message") or body.get("error") or body.get("name") if isinstance(body, dict) else None
        except (ValueError, RecursionError):  # not JSON, or nested past what json follows: quote the text
            detail = None
        detail = self.excerpt(str(detail) if detail else response.text or response.reason or "")
        hint = self.auth.unauthorized_hint if status == 401 else _HINTS.get(status)
        return LipsApiError(
            f"LIPS answered {status} to {what}: {detail or '(empty body)'}" + (f" — {hint}." if hint else ""),
            status=status,
        )

    def get_json(self, path: str, params: QueryParams, abort: threading.Event | None = None) -> Any:
        """GET ``path`` and parse the body, failing clearly on a body that is not JSON."""
        return self.get_json_sized(path, params, abort)[0]

    def get_json_sized(self, path: str, params: QueryParams, abort: threading.Event | None = None) -> tuple[Any, int]:
        """:meth:`get_json` plus the body's size in bytes, by which the paginator bounds memory."""
        response = self.request(path, params, abort)
        what, status = f"GET {path}?{encode_query(params)}", response.status_code
        return decode_json(response.content, what=what, status=status, excerpt=self.body_excerpt), len(response.content)
