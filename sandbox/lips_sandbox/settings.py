"""Sandbox settings: credentials, server behaviour and fault switches.

One frozen dataclass, updated through :meth:`SandboxSettings.updated`, which
accepts Python values and their JSON/CLI spellings alike (``"3,7"`` or
``[3, 7]`` for a page set, an ISO string for ``as_of``), so that the
constructor, ``configure()``, ``POST /_sandbox/config`` and the CLI share one
validation path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from lips_sandbox.shapes import TOTALS_SHAPES, Presentation

__all__ = ["EVENT_TYPE_STYLES", "OCCURRED_FIELDS", "RETRY_AFTER_FORMATS", "SandboxSettings"]

RETRY_AFTER_FORMATS = ("seconds", "http-date", "none")
EVENT_TYPE_STYLES = ("plain", "class")
OCCURRED_FIELDS = ("occurred_at", "occured_at")
_MUTATION_KEYS = ("after_requests", "insert", "archive")


@dataclasses.dataclass(frozen=True)
class SandboxSettings:
    """Everything that can change how the sandbox answers.

    Faults apply to ``/contact_interactions``, ``/contact_interactions/totals`` and
    ``/contacts`` (the page faults to the listings only), never to ``/_sandbox/*`` or
    the token endpoint, which has its own (``token_errors``, ``token_latency_ms``). Random faults
    draw from one generator seeded with ``fault_seed``, in request order.

    The defaults answer as the vendor documents: nested totals, 429 without ``Retry-After``.
    The shape switches serve the variants its other documents and older deployments show
    (see :mod:`~lips_sandbox.shapes`).
    """

    token: str = "sandbox-token"  # expected "Authorization: token <token>"
    api_key: str | None = None  # when set, "x-api-key" must match
    max_per_page: int = 100  # per_page is capped to this (and the response says so)
    filter_utc_offset_hours: float = 0.0  # zone of bare-date and naive start_date/end_date
    forbidden_advertisers: frozenset[str] = frozenset()  # gmaids (or their gmcids) answered 403
    as_of: datetime | None = None  # records created after this are not ingested yet: invisible
    fault_seed: int = 0
    latency_ms: float = 0.0  # fixed delay per request
    latency_jitter_ms: float = 0.0  # plus uniform random [0, jitter)
    rate_limit_rps: float | None = None  # 429 once this many requests were admitted in the last second
    arrival_jitter_ms: float = 0.0  # uniform random [0, jitter) between reaching the server and the rate limit counting it
    retry_after_format: str = "none"  # Retry-After on 429: "none" (as documented), "seconds" or "http-date"
    burst_429: frozenset[int] | float = frozenset()  # request ordinals (since reset_log) or a fraction: 429
    error_rate: float = 0.0  # fraction answered 500/502/503/504
    drop_rate: float = 0.0  # fraction whose connection is closed without a response
    malformed_pages: frozenset[int] = frozenset()  # 200 with invalid JSON (the seed's trailing comma)
    missing_key_pages: frozenset[int] = frozenset()  # 200 without "contact_interactions"
    wrong_page_pages: frozenset[int] = frozenset()  # 200 with page n+1 (label and records) instead of n
    mutate_during_walk: dict[str, int] | None = None  # {"after_requests", "insert", "archive"}: once
    redirect_to: str | None = None  # 302 to this base URL + the same path and query
    # OAuth2 (POST /oauth/token): on when oauth_client_id is set; the API then also takes "Bearer <access token>".
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_username: str | None = None  # the password grant's user
    oauth_password: str | None = None
    oauth_access_token_seconds: float = 7200.0  # the vendor's 2 hours; tests use a few seconds
    oauth_refresh_token_seconds: float | None = None  # None: refresh tokens last until used
    token_errors: frozenset[int] | float = frozenset()  # token request ordinals (since reset_log) or a fraction: 503
    token_latency_ms: float = 0.0  # delay per token request
    totals_shape: str = "nested"  # "nested" ({"totals": {...}, "unread", "channel"}, documented) or "flat" (older)
    totals_ignore_archived: bool = False  # totals counts live interactions even with archived=true (undocumented)
    totals_count_fpd: bool = True  # whether totals' "events" counts FPD events (undocumented)
    event_type_style: str = "plain"  # "plain" (call) or "class" (CallEvent, as in the vendor's show example)
    occurred_field: str = "occurred_at"  # or "occured_at" (the vendor's field tables and CRM payloads)
    contacts_without_id: float = 0.0  # fraction of interactions served with a contact without id, no contact_id
    phone_extensions: float = 0.0  # fraction of interactions whose contact's numbers end in " x<ext>"
    timestamp_offset_hours: float | None = None  # None: UTC "...000Z"; else that offset, e.g. -8 -> "-08:00"
    # Hostile servers (docs/hostile-servers.md): what a broken proxy, a buggy deployment or a compromised host sends.
    lie_total_pages: int | None = None  # every listing page claims this many pages; pages past the data are empty
    ignore_page: bool = False  # every page serves page 1's records, labelled with the page asked for
    totals_events: int | None = None  # totals' "events" count says this, whatever the listing holds
    huge_pages: frozenset[int] = frozenset()  # pages answered with a body of huge_body_bytes, streamed, never held
    huge_body_bytes: int = 1_610_612_736  # 1.5 GiB of valid JSON (the records padded out)
    huge_body_chunked: bool = False  # true: Transfer-Encoding chunked, no Content-Length to refuse it by
    trickle_pages: frozenset[int] = frozenset()  # pages whose headers go at once, then one byte per trickle_interval_ms
    trickle_headers_pages: frozenset[int] = frozenset()  # pages whose status line and headers go one byte per interval
    trickle_interval_ms: float = 2000.0
    deep_nesting_pages: frozenset[int] = frozenset()  # the page's first record carries nesting_depth nested arrays
    nesting_depth: int = 100_000
    bad_occurred_at_ids: frozenset[int] = frozenset()  # interactions served with occurred_at "2026-13-45T25:61:00.000Z"
    bad_created_at_ids: frozenset[int] = frozenset()  # ... with created_at "not a timestamp"
    numeric_created_at_ids: frozenset[int] = frozenset()  # ... with created_at 1764547200 (a number, not a string)

    @property
    def presentation(self) -> Presentation:
        """The record spelling switches, as one hashable value."""
        return Presentation(
            self.event_type_style,
            self.occurred_field,
            self.contacts_without_id,
            self.phone_extensions,
            self.timestamp_offset_hours,
        )

    def updated(self, **changes: Any) -> SandboxSettings:
        """A copy with ``changes`` applied; raises ValueError naming a bad or unknown setting."""
        coerced = {}
        for name, value in changes.items():
            if name not in _COERCERS:
                raise ValueError(f"unknown sandbox setting {name!r}")
            try:
                coerced[name] = _COERCERS[name](value)
            except (TypeError, ValueError) as error:
                raise ValueError(f"invalid value for {name}: {error}") from None
        return dataclasses.replace(self, **coerced)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready view, in the same spellings :meth:`updated` accepts."""
        result: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            result[field.name] = value
        return result


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _flag(value: Any) -> bool:
    """A boolean, or its CLI/JSON spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise ValueError("expected true or false")


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _number(low: float, high: float) -> Callable[[Any], float]:
    def coerce(value: Any) -> float:
        number = float(value)
        if not low <= number <= high:
            raise ValueError(f"expected a number in [{low}, {high}]")
        return number

    return coerce


def _optional_number(low: float, high: float) -> Callable[[Any], float | None]:
    bounded = _number(low, high)
    return lambda value: None if value is None else bounded(value)


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("expected a positive integer")
    return number


def _items(value: Any) -> Iterable[Any]:
    """Comma-separated string or iterable: the CLI and JSON spell sets differently."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value)


def _names(value: Any) -> frozenset[str]:
    return frozenset(_text(item) for item in _items(value))


def _pages(value: Any) -> frozenset[int]:
    return frozenset(_positive_int(item) for item in _items(value))


def _optional_rate(value: Any) -> float | None:
    return _optional_number(1e-6, 1e9)(value)


def _as_of(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return str(value)

    return coerce


def _burst(value: Any) -> frozenset[int] | float:
    """Request ordinals that get 429, or (a bare number) the fraction of requests that do."""
    if isinstance(value, str) and "." in value:  # CLI spelling of a fraction, e.g. "0.1"
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(0.0, 1.0)(value)
    return _pages(value)


def _mutation(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if isinstance(value, str):  # CLI spelling: JSON text
        value = json.loads(value)
    if not isinstance(value, dict) or set(value) - set(_MUTATION_KEYS):
        raise ValueError(f"expected an object with keys among {', '.join(_MUTATION_KEYS)}")
    counts = {key: int(value.get(key, 0)) for key in _MUTATION_KEYS}
    if min(counts.values()) < 0:
        raise ValueError("counts must not be negative")
    return counts


def _url(value: Any) -> str | None:
    if value is None:
        return None
    if not _text(value).startswith(("http://", "https://")):
        raise ValueError("expected an http(s) base URL")
    return str(value).rstrip("/")


_COERCERS: dict[str, Callable[[Any], Any]] = {
    "token": _text,
    "api_key": _optional_text,
    "max_per_page": _positive_int,
    "filter_utc_offset_hours": _number(-23.99, 23.99),
    "forbidden_advertisers": _names,
    "as_of": _as_of,
    "fault_seed": int,
    "latency_ms": _number(0.0, 600_000.0),
    "latency_jitter_ms": _number(0.0, 600_000.0),
    "rate_limit_rps": _optional_rate,
    "arrival_jitter_ms": _number(0.0, 10_000.0),
    "retry_after_format": _one_of(RETRY_AFTER_FORMATS),
    "burst_429": _burst,
    "error_rate": _number(0.0, 1.0),
    "drop_rate": _number(0.0, 1.0),
    "malformed_pages": _pages,
    "missing_key_pages": _pages,
    "wrong_page_pages": _pages,
    "mutate_during_walk": _mutation,
    "redirect_to": _url,
    "oauth_client_id": _optional_text,
    "oauth_client_secret": _optional_text,
    "oauth_username": _optional_text,
    "oauth_password": _optional_text,
    "oauth_access_token_seconds": _number(0.001, 1e7),
    "oauth_refresh_token_seconds": _optional_number(0.001, 1e9),
    "token_errors": _burst,
    "token_latency_ms": _number(0.0, 600_000.0),
    "totals_shape": _one_of(TOTALS_SHAPES),
    "totals_ignore_archived": _flag,
    "totals_count_fpd": _flag,
    "event_type_style": _one_of(EVENT_TYPE_STYLES),
    "occurred_field": _one_of(OCCURRED_FIELDS),
    "contacts_without_id": _number(0.0, 1.0),
    "phone_extensions": _number(0.0, 1.0),
    "timestamp_offset_hours": _optional_number(-23.99, 23.99),
    "lie_total_pages": lambda value: None if value is None else _positive_int(value),
    "ignore_page": _flag,
    "totals_events": lambda value: None if value is None else int(_number(0, 1e12)(value)),
    "huge_pages": _pages,
    "huge_body_bytes": _positive_int,
    "huge_body_chunked": _flag,
    "trickle_pages": _pages,
    "trickle_headers_pages": _pages,
    "trickle_interval_ms": _number(0.0, 600_000.0),
    "deep_nesting_pages": _pages,
    "nesting_depth": _positive_int,
    "bad_occurred_at_ids": _pages,
    "bad_created_at_ids": _pages,
    "numeric_created_at_ids": _pages,
}
