"""A local HTTP emulation of the LIPS Contact Interactions API, with fault switches.

Nobody can reach the real service from tests, the demo or the benchmark, so
:class:`LipsSandbox` answers ``/contact_interactions``,
``/contact_interactions/totals`` and ``/contacts`` the way LIPS_API.md describes, and can be made
slow, rate limited, flaky, wrong or shifting under a paging client, all
deterministically from ``fault_seed``. With ``oauth_client_id`` set it also issues OAuth2
tokens at ``POST /oauth/token`` and accepts ``Authorization: Bearer <access token>``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from email.message import Message
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from lips_sandbox.contacts import CONTACTS_PATH, ContactDirectory, ContactRow
from lips_sandbox.data import format_timestamp, to_ms
from lips_sandbox.oauth import TOKEN_PATH, TokenIssuer
from lips_sandbox.query import PHONE_PARAM, Filters, ParamError, Query, parse_query
from lips_sandbox.settings import SandboxSettings
from lips_sandbox.store import InteractionStore, Row

__all__ = ["CONTACTS_PATH", "LIST_PATH", "LOG_LIMIT", "TOKEN_PATH", "TOTALS_PATH", "LipsSandbox"]

LIST_PATH = "/contact_interactions"
TOTALS_PATH = "/contact_interactions/totals"
API_PATHS = (LIST_PATH, TOTALS_PATH, CONTACTS_PATH)
CONTROL_PREFIX = "/_sandbox/"
LOG_LIMIT = 100_000  # keeps a long benchmark from growing the request log without bound
_SERVER_ERRORS = (500, 502, 503, 504)

FilterValue = str | int | bool | date | Iterable[str]


class Stream(NamedTuple):
    """A body sent as it is produced, never held whole: ``length`` bytes (``None``: chunked) from ``chunks``."""

    length: int | None
    chunks: Iterable[bytes]


class Reply(NamedTuple):
    """What to send back: status, body and extra headers; or, with ``stream``, a body sent as it is made."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    stream: Stream | None = None
    head_interval: float = 0.0  # > 0: the status line and headers go one byte per that many seconds


class _Draws(NamedTuple):
    """The random numbers one data request consumes, always all of them, so that the
    n-th request meets the same fate whatever switches are on."""

    jitter: float
    drop: float
    burst: float
    error: float
    code: float


def _json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers)


def _param_values(value: FilterValue) -> list[str]:
    """Python filter values in query-string form, for :meth:`LipsSandbox.truth`."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (str, int)):
        return [str(value)]
    if isinstance(value, date):  # datetime is a date too
        return [value.isoformat()]
    return [str(item) for item in value]


class LipsSandbox:
    """LIPS emulation on a local port; use as a context manager (or start()/stop()).

    ``settings`` are the fault switches and behaviour knobs documented on
    :class:`~lips_sandbox.settings.SandboxSettings`; change them
    later with :meth:`configure` or ``POST /_sandbox/config``.
    """

    def __init__(
        self,
        interactions: list[dict[str, Any]] | None = None,
        *,
        token: str = "sandbox-token",
        api_key: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        max_per_page: int = 100,
        **settings: Any,
    ) -> None:
        self._store = InteractionStore(interactions or [])
        self._settings = SandboxSettings().updated(token=token, api_key=api_key, max_per_page=max_per_page, **settings)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._rng = random.Random(self._settings.fault_seed)
        self._ordinal = 0  # data requests since start or reset_log(): burst_429 counts these
        self._admitted: deque[float] = deque()  # monotonic times of requests inside the rate-limit window
        self._listings = 0  # listing requests answered since mutate_during_walk was set
        self._mutations: dict[str, list[int]] = {"inserted": [], "archived": []}
        self._mutated = False
        self._contacts = ContactDirectory(self._store)
        self._tokens = TokenIssuer()
        self._token_ordinal = 0  # token requests since start or reset_log(): token_errors counts these
        self._token_rng = random.Random(self._settings.fault_seed)  # apart, so data faults keep their sequence
        self._arrival_rng = random.Random(self._settings.fault_seed)  # likewise for arrival_jitter_ms
        self._deleted: list[int] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> LipsSandbox:
        """Bind and serve from a daemon thread; returns self for chaining."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="lips-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close kept-alive client connections; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> LipsSandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53121``."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"http://{self._address[0]}:{self._server.server_port}"

    # Inspection and control -----------------------------------------------------------------

    @property
    def settings(self) -> SandboxSettings:
        return self._settings

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Logged API requests (not /_sandbox/ ones), oldest first; status 0 = connection dropped."""
        with self._lock:
            return list(self._log)

    @property
    def interactions(self) -> list[dict[str, Any]]:
        """Stored records in LIPS order (live objects: read, do not modify)."""
        return self._store.records()

    @property
    def mutations(self) -> dict[str, list[int]]:
        """Ids inserted and archived by ``mutate_during_walk``."""
        with self._lock:
            return {kind: list(ids) for kind, ids in self._mutations.items()}

    def reset_log(self) -> None:
        """Forget logged requests and restart the ordinal counts used by ``burst_429`` and ``token_errors``."""
        with self._lock:
            self._log.clear()
            self._ordinal = 0
            self._token_ordinal = 0

    def configure(self, **settings: Any) -> None:
        """Change settings at run time (ValueError on unknown or invalid ones).

        A new ``fault_seed`` restarts the fault sequence; a new ``mutate_during_walk``
        restarts its request count and clears :attr:`mutations`.
        """
        with self._lock:
            self._settings = self._settings.updated(**settings)
            if "fault_seed" in settings:
                self._rng = random.Random(self._settings.fault_seed)
                self._token_rng = random.Random(self._settings.fault_seed)
                self._arrival_rng = random.Random(self._settings.fault_seed)
            if "rate_limit_rps" in settings:
                self._admitted.clear()
            if "mutate_during_walk" in settings:
                self._listings = 0
                self._mutated = False
                self._mutations = {"inserted": [], "archived": []}

    def truth(self, **filters: FilterValue) -> list[int]:
        """Ids a complete pull with these filters must return (visible now, any page), in LIPS order.

        Keywords are the query parameters (``global_master_advertiser_id``,
        ``event_type``, ``start_date``...; ``phone_numbers`` stands for
        ``event_params[phone_numbers]``); ``archived=True`` answers the archived set
        instead of the live one, as the listing does. Raises ParamError like the server's 422.
        """
        params = {(PHONE_PARAM if name == "phone_numbers" else name): _param_values(v) for name, v in filters.items()}
        settings = self._settings
        query = parse_query(params, settings.filter_utc_offset_hours)
        return [row.id for row in self._select(query.filters, settings)]

    def contacts_truth(self, **filters: FilterValue) -> list[dict[str, Any]]:
        """The contacts ``GET /contacts`` serves for these filters (every page), in listing order.

        Keywords as for :meth:`truth`; ``start_date``/``end_date`` bound ``created_at``, inclusively.
        """
        params = {name: _param_values(value) for name, value in filters.items()}
        settings = self._settings
        query = _contacts_query(params, settings)
        return [contact.record for contact in self._select_contacts(query.filters, settings)]

    @property
    def issued_tokens(self) -> list[str]:
        """Every OAuth2 access and refresh token issued so far (tests check none leaked)."""
        return self._tokens.issued()

    def expire_tokens(self) -> int:
        """Expire every OAuth2 access token issued so far (refresh tokens stay valid); returns how many."""
        return self._tokens.expire_all()

    def warm_up(self) -> None:
        """Pre-encode every record (~10 µs each) so that a first walk is as fast as later ones.

        Benchmarks call this before timing; otherwise records are encoded on first serve.
        """
        self._store.encode_all(self._settings.presentation)

    def insert(self, interaction: dict[str, Any]) -> None:
        """Add an interaction (copied; its id must be new)."""
        self._store.insert(interaction)

    def archive(self, interaction_id: int, at: datetime | None = None) -> None:
        """Archive an interaction now (or ``at``): it leaves default listings and shows with ``archived=true``."""
        self._store.archive(interaction_id, to_ms(at) if at else int(time.time() * 1000))

    def unarchive(self, interaction_id: int) -> None:
        """Make an archived interaction live again (``archived_at`` cleared)."""
        self._store.unarchive(interaction_id)

    def delete(self, interaction_id: int) -> None:
        """Delete an interaction: from now on neither live nor archived listings show it."""
        self._store.delete(interaction_id)
        with self._lock:
            self._deleted.append(interaction_id)

    @property
    def deleted(self) -> list[int]:
        """Ids removed with :meth:`delete`, in order."""
        with self._lock:
            return list(self._deleted)

    # Request handling -----------------------------------------------------------------------

    def _select(self, filters: Filters, settings: SandboxSettings) -> list[Row]:
        return self._store.select(filters, None if settings.as_of is None else to_ms(settings.as_of))

    def _select_contacts(self, filters: Filters, settings: SandboxSettings) -> list[ContactRow]:
        return self._contacts.select(filters, None if settings.as_of is None else to_ms(settings.as_of))

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def _draw(self) -> tuple[SandboxSettings, _Draws, int]:
        with self._lock:
            self._ordinal += 1
            draws = _Draws(*(self._rng.random() for _ in _Draws._fields))
            return self._settings, draws, self._ordinal

    def _throttle(self, settings: SandboxSettings, draws: _Draws, ordinal: int) -> int | None:
        """Seconds to ask the client to wait, or None to let the request through."""
        burst = settings.burst_429
        if ordinal in burst if isinstance(burst, frozenset) else draws.burst < burst:
            return 1
        if settings.rate_limit_rps is None:
            return None
        if settings.arrival_jitter_ms:
            # A gateway counts a request when it gets there, a little after the client sent it, and not
            # always equally late: network and proxy queues reorder what the client spaced evenly.
            with self._lock:
                delay = self._arrival_rng.random() * settings.arrival_jitter_ms
            time.sleep(delay / 1000)
        with self._lock:
            now = time.monotonic()
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= settings.rate_limit_rps:
                return max(1, math.ceil(self._admitted[0] + 1.0 - now))
            self._admitted.append(now)
        return None

    def answer(self, path: str, query: str, headers: Message) -> Reply | None:
        """Answer one API request (``None``: drop the connection without a response)."""
        settings, draws, ordinal = self._draw()
        # The limit counts requests as they arrive, as a gateway does, not after the latency.
        wait = self._throttle(settings, draws, ordinal)
        delay_ms = settings.latency_ms + draws.jitter * settings.latency_jitter_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if draws.drop < settings.drop_rate:
            return None
        if wait is not None:
            return _json_reply(429, {"message": "Too Many Requests"}, _retry_after(settings.retry_after_format, wait))
        if draws.error < settings.error_rate:
            status = _SERVER_ERRORS[int(draws.code * len(_SERVER_ERRORS))]
            return _json_reply(status, {"message": HTTPStatus(status).phrase})
        if settings.redirect_to:
            location = settings.redirect_to + path + (f"?{query}" if query else "")
            return Reply(302, b"", (("Location", location),))
        refused = self._unauthorized(headers, settings)
        if refused is not None:
            return refused
        try:
            params = parse_qs(query, keep_blank_values=True)
            if path == CONTACTS_PATH:
                parsed = _contacts_query(params, settings)
            else:
                parsed = parse_query(params, settings.filter_utc_offset_hours)
        except ParamError as error:
            return _json_reply(422, {"message": str(error)})
        denied = self._denied(parsed.filters, settings)
        if denied:
            return _json_reply(403, {"name": "not_authorized", "message": f"Not authorized for advertiser {denied}"})
        if path == CONTACTS_PATH:
            return _page(self._select_contacts(parsed.filters, settings), parsed, settings, "contacts")
        rows = self._select(parsed.filters, settings)
        if path == TOTALS_PATH:
            if settings.totals_ignore_archived:  # a server whose totals count live interactions only
                rows = self._select(dataclasses.replace(parsed.filters, archived=False), settings)
            totals = InteractionStore.totals(rows, settings.totals_shape, count_fpd=settings.totals_count_fpd)
            if settings.totals_events is not None:  # a server whose totals contradict its listing
                (totals["totals"] if settings.totals_shape == "nested" else totals)["events"] = settings.totals_events
            return _json_reply(200, totals)
        reply = _page(rows, parsed, settings, "contact_interactions")
        self._after_listing(parsed.filters)
        return reply

    def _unauthorized(self, headers: Message, settings: SandboxSettings) -> Reply | None:
        """The 401 for a request without valid credentials: the token, or a bearer token once OAuth2 is on."""
        authorization = headers.get("Authorization") or ""
        scheme, _, credential = authorization.partition(" ")
        if settings.oauth_client_id is not None and scheme.lower() == "bearer":
            problem = self._tokens.check(credential)
            if problem is None:
                return None
            challenge = f'Bearer realm="LipsSandbox", error="invalid_token", error_description="{problem}"'
            return _json_reply(
                401, {"error": "invalid_token", "message": problem}, (("WWW-Authenticate", challenge),)
            )
        if authorization != f"token {settings.token}":
            return _json_reply(401, {"message": "Unauthorized: missing or invalid token"})
        if settings.api_key is not None and headers.get("x-api-key") != settings.api_key:
            return _json_reply(401, {"message": "Unauthorized: missing or invalid x-api-key"})
        return None

    def answer_token(self, body: bytes, headers: Message) -> tuple[Reply, str | None]:
        """Answer ``POST /oauth/token``, with its own faults; also returns the grant type for the log."""
        with self._lock:
            self._token_ordinal += 1
            ordinal, settings, draw = self._token_ordinal, self._settings, self._token_rng.random()
        if settings.token_latency_ms:
            time.sleep(settings.token_latency_ms / 1000)
        errors = settings.token_errors
        if ordinal in errors if isinstance(errors, frozenset) else draw < errors:
            return _json_reply(503, {"message": HTTPStatus(503).phrase}), None
        answer = self._tokens.issue(body, headers.get("Content-Type") or "", settings)
        return _json_reply(answer.status, answer.body), answer.grant_type

    def _denied(self, filters: Filters, settings: SandboxSettings) -> str | None:
        """The first forbidden gmaid the request touches, directly or through a gmcid."""
        owners = {self._store.advertiser_of(campaign) for campaign in filters.campaigns}
        touched = sorted((filters.advertisers | {owner for owner in owners if owner}) & settings.forbidden_advertisers)
        return touched[0] if touched else None

    def _after_listing(self, filters: Filters) -> None:
        """Count served listing pages and apply ``mutate_during_walk`` once its turn comes."""
        with self._lock:
            self._listings += 1
            plan = self._settings.mutate_during_walk
            if plan is None or self._mutated or self._listings < plan["after_requests"]:
                return
            self._mutated = True
            self._mutate(dataclasses.replace(filters, archived=False), plan, self._settings)

    def _mutate(self, filters: Filters, plan: dict[str, int], settings: SandboxSettings) -> None:
        """Insert copies of matching records (occurring among them, so inside the window) and archive others.

        New records are created, and others archived, at the visibility clock (``as_of``)
        or else just after the newest record: deterministic, and visible at once.

        Called with ``self._lock`` held: the fault RNG must advance in request order.
        """
        visible = self._select(filters, settings)
        if not visible:
            return
        # "Now" in the data's own time, not the wall clock, so that a rerun with the same seed sees the same bytes.
        now_ms = self._store.latest_created_ms() + 1000 if settings.as_of is None else to_ms(settings.as_of)
        # Among the matching records' occurred_at span (clients may widen their window beyond the data).
        low, high = visible[-1].occurred_ms, max(visible[-1].occurred_ms, min(visible[0].occurred_ms, now_ms))
        next_id = self._store.max_id() + 1
        for offset in range(plan["insert"]):
            record = json.loads(self._rng.choice(visible).json())
            record.update(
                id=next_id + offset,
                occurred_at=format_timestamp(self._rng.randint(low, high)),
                created_at=format_timestamp(now_ms),
                archived_at=None,
            )
            self._store.insert(record)
            self._mutations["inserted"].append(record["id"])
        for row in self._rng.sample(visible, min(plan["archive"], len(visible))):
            self._store.archive(row.id, now_ms)
            self._mutations["archived"].append(row.id)

    def _change(self, action: str, body: bytes) -> dict[str, Any]:
        """Archive, unarchive or delete interactions between runs, as the vendor's users do."""
        ids, at = _ids(body)
        unknown = [interaction_id for interaction_id in ids if not self._store.has(interaction_id)]
        if unknown:
            raise KeyError(f"no interaction(s) {unknown}; nothing changed")
        for interaction_id in ids:
            if action == "archive":
                self.archive(interaction_id, at)
            elif action == "unarchive":
                self.unarchive(interaction_id)
            else:
                self.delete(interaction_id)
        return {action: ids}

    def control(self, method: str, path: str, query: str, body: bytes) -> Reply:
        """``/_sandbox/*``: inspection and configuration for a sandbox in another process.

        ``POST /_sandbox/archive|unarchive|delete`` with ``{"ids": [...]}`` (archive also
        takes ``"at"``) change interactions between runs; ``GET /_sandbox/truth?...&archived=true``
        answers the archived set, ``GET /_sandbox/deleted`` the deleted ids.
        """
        route = (method, path[len(CONTROL_PREFIX) :])
        try:
            if route == ("GET", "requests"):
                return _json_reply(200, self.requests)
            if route == ("POST", "reset-log"):
                self.reset_log()
                return _json_reply(200, {"ok": True})
            if route == ("GET", "config"):
                return _json_reply(200, self._settings.to_json())
            if route == ("POST", "config"):
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of settings")
                self.configure(**changes)
                return _json_reply(200, self._settings.to_json())
            if route == ("GET", "truth"):
                settings = self._settings
                parsed = parse_query(parse_qs(query, keep_blank_values=True), settings.filter_utc_offset_hours)
                ids = [row.id for row in self._select(parsed.filters, settings)]
                return _json_reply(200, {"ids": ids, "count": len(ids)})
            if route == ("GET", "contacts-truth"):
                contacts = _contacts_query(parse_qs(query, keep_blank_values=True), self._settings)
                ids = [contact.id for contact in self._select_contacts(contacts.filters, self._settings)]
                return _json_reply(200, {"ids": ids, "count": len(ids)})
            if route == ("POST", "expire-tokens"):
                return _json_reply(200, {"expired": self.expire_tokens()})
            if route == ("GET", "mutations"):
                return _json_reply(200, self.mutations)
            if route == ("GET", "deleted"):
                return _json_reply(200, {"ids": self.deleted})
            if method == "POST" and route[1] in ("archive", "unarchive", "delete"):
                return _json_reply(200, self._change(route[1], body))
        except ParamError as error:
            return _json_reply(422, {"message": str(error)})
        except KeyError as error:
            return _json_reply(404, {"message": str(error.args[0])})
        except ValueError as error:  # includes json.JSONDecodeError
            return _json_reply(400, {"message": str(error)})
        return _json_reply(404, {"message": f"no sandbox endpoint {method} {path}"})


def _ids(body: bytes) -> tuple[list[int], datetime | None]:
    """``{"ids": [...], "at": "<ISO datetime>"}`` of an archive/unarchive/delete control request."""
    changes = json.loads(body or b"{}")
    ids = changes.get("ids") if isinstance(changes, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValueError('expected {"ids": [<interaction id>, ...]}')
    at = changes.get("at")
    return ids, None if at is None else datetime.fromisoformat(str(at).replace("Z", "+00:00"))


def _retry_after(style: str, seconds: int) -> tuple[tuple[str, str], ...]:
    if style == "none":
        return ()
    value = formatdate(time.time() + seconds, usegmt=True) if style == "http-date" else str(seconds)
    return (("Retry-After", value),)


def _contacts_query(params: dict[str, list[str]], settings: SandboxSettings) -> Query:
    """A ``/contacts`` query: the interactions' parameters, a gmaid required, dates bounding ``created_at``."""
    parsed = parse_query(params, settings.filter_utc_offset_hours)
    if not parsed.filters.advertisers:
        raise ParamError("global_master_advertiser_id is required")
    return parsed


def _page(rows: Sequence[Row | ContactRow], query: Query, settings: SandboxSettings, key: str) -> Reply:
    """One listing page, built from cached per-record JSON, with the page-level faults."""
    per_page = min(query.per_page, settings.max_per_page)
    total_pages = settings.lie_total_pages or max(1, math.ceil(len(rows) / per_page))
    page = query.page + 1 if query.page in settings.wrong_page_pages else query.page  # and that page's records
    if query.page in settings.missing_key_pages:
        return _json_reply(200, {"page": page, "total_pages": total_pages, "per_page": per_page})
    tail = f'], "page": {page}, "total_pages": {total_pages}, "per_page": {per_page}}}'.encode()
    if query.page in settings.huge_pages:
        return Reply(200, b"", (), _huge(settings, b'{"' + key.encode() + b'": [' + tail[:-1] + b', "padding": "'))
    style = settings.presentation  # interactions only: contacts are served as built
    served = 1 if settings.ignore_page else page
    chosen = rows[(served - 1) * per_page : served * per_page]
    items = b", ".join(row.json(style) if isinstance(row, Row) else row.json() for row in chosen)
    if settings.bad_occurred_at_ids or settings.bad_created_at_ids or settings.numeric_created_at_ids:
        items = b", ".join(_spoiled(row.json(style), row.id, settings) if isinstance(row, Row) else row.json() for row in chosen)
    if query.page in settings.deep_nesting_pages and items:
        depth = settings.nesting_depth  # inside the first record: {"nested": [[[...]]], "id": ...
        items = b'{"nested": ' + b"[" * depth + b"]" * depth + b", " + items[1:]
    if query.page in settings.malformed_pages:
        items += b",\n"  # the seed document's trailing comma: not JSON
    body = b'{"' + key.encode() + b'": [' + items + tail
    if query.page in settings.trickle_pages:
        return Reply(200, b"", (), Stream(len(body), _trickle(body, settings.trickle_interval_ms / 1000)))
    if query.page in settings.trickle_headers_pages:
        return Reply(200, body, head_interval=settings.trickle_interval_ms / 1000)
    return Reply(200, body)


_BAD_OCCURRED_AT = "2026-13-45T25:61:00.000Z"
_BAD_CREATED_AT = "not a timestamp"
_NUMERIC_CREATED_AT = 1764547200


def _spoiled(body: bytes, interaction_id: int, settings: SandboxSettings) -> bytes:
    """One interaction with the timestamps the bad-timestamp switches name for its id."""
    changes: dict[str, Any] = {}
    if interaction_id in settings.bad_occurred_at_ids:
        changes[settings.occurred_field] = _BAD_OCCURRED_AT
    if interaction_id in settings.bad_created_at_ids:
        changes["created_at"] = _BAD_CREATED_AT
    if interaction_id in settings.numeric_created_at_ids:
        changes["created_at"] = _NUMERIC_CREATED_AT
    return json.dumps({**json.loads(body), **changes}).encode() if changes else body


def _huge(settings: SandboxSettings, head: bytes) -> Stream:
    """``huge_body_bytes`` of valid JSON, a page whose ``padding`` string fills it, made 1 MiB at a time."""
    size, tail = settings.huge_body_bytes, b'"}'
    padding = max(0, size - len(head) - len(tail))
    block = b"x" * (1 << 20)

    def chunks() -> Iterable[bytes]:
        yield head
        full, rest = divmod(padding, len(block))
        for _ in range(full):
            yield block
        yield block[:rest]
        yield tail

    return Stream(None if settings.huge_body_chunked else len(head) + padding + len(tail), chunks())


def _trickle(body: bytes, interval: float) -> Iterable[bytes]:
    """``body`` one byte at a time, ``interval`` seconds apart: a server that never quite stops answering."""
    for offset in range(len(body)):
        if offset:
            time.sleep(interval)
        yield body[offset : offset + 1]


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing only: the sandbox decides every answer."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    server_version = "LipsSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks would drown in one stderr line per request."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        received = time.time()
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sandbox = self.server.sandbox
        if path.startswith(CONTROL_PREFIX):
            self._send(sandbox.control(self.command, path, query, body))
            return
        grant_type = None
        if path in API_PATHS and self.command == "GET":
            reply = sandbox.answer(path, query, self.headers)
        elif path == TOKEN_PATH and self.command == "POST":
            reply, grant_type = sandbox.answer_token(body, self.headers)
        elif path in API_PATHS or path == TOKEN_PATH:
            allowed = "POST" if path == TOKEN_PATH else "GET"
            reply = _json_reply(405, {"message": "Method Not Allowed"}, (("Allow", allowed),))
        else:
            reply = _json_reply(404, {"message": "Not Found"})
        # Logged before answering, so a client that has its answer always finds the entry.
        sandbox._record(
            {
                "time": received,
                "method": self.command,
                "path": path,
                "query": query,
                "params": parse_qs(query, keep_blank_values=True),
                "headers": dict(self.headers.items()),
                "status": 0 if reply is None else reply.status,
                **({"grant_type": grant_type} if path == TOKEN_PATH else {}),
            }
        )
        if reply is None:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        stream = reply.stream
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if stream is not None and stream.length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body) if stream is None else stream.length))
        for name, value in reply.headers:
            self.send_header(name, value)
        if not reply.head_interval:
            self.end_headers()
        elif not self._trickle_head(reply.head_interval):
            return
        if stream is None:
            self.wfile.write(reply.body)
            return
        try:
            for chunk in stream.chunks:
                if chunk:
                    self.wfile.write(chunk if stream.length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if stream.length is None:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading (as a bounded client does): stop producing
            self.close_connection = True

    def _trickle_head(self, interval: float) -> bool:
        """The status line and headers one byte per ``interval`` seconds; false if the client hung up meanwhile."""
        buffer, wfile = io.BytesIO(), self.wfile
        self.wfile = buffer
        self.end_headers()  # the head, collected instead of sent
        self.wfile = wfile
        try:
            for byte in _trickle(buffer.getvalue(), interval):
                self.wfile.write(byte)
        except OSError:  # the client gave up (as a client with an overall deadline does)
            self.close_connection = True
            return False
        return True

    def _drop(self) -> None:
        """Close without a byte of response: the client sees RemoteDisconnected/ConnectionError."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    """Threading server that can close idle keep-alive connections when stopped."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: LipsSandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hung up (a bounded client stops reading a huge or trickled body)."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Unblock handler threads waiting on kept-alive sockets."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
