"""Query-string parsing for the emulated endpoints, with LIPS's 422 semantics.

Parsing happens on the *decoded* query (``urllib.parse.parse_qs``), exactly as
a real server would see it: a phone number sent with a raw ``+`` arrives as a
space and matches nothing, which lets tests prove that clients encode ``%2B``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone

from lips_sandbox.data import to_ms

__all__ = ["DEFAULT_PER_PAGE", "PHONE_PARAM", "Filters", "ParamError", "Query", "parse_query"]

DEFAULT_PER_PAGE = 25
PHONE_PARAM = "event_params[phone_numbers]"


class ParamError(ValueError):
    """A missing or invalid parameter: the server answers 422 with this message."""


@dataclasses.dataclass(frozen=True)
class Filters:
    """What selects interactions (paging aside); hashable, so it keys the result cache."""

    advertisers: frozenset[str] = frozenset()
    campaigns: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    archived: bool = False
    start_ms: int | None = None  # inclusive, on occurred_at
    end_ms: int | None = None  # inclusive, on occurred_at


@dataclasses.dataclass(frozen=True)
class Query:
    """A parsed index/totals request: filters plus the requested page."""

    filters: Filters
    page: int
    per_page: int  # as requested; the server caps it


def _values(params: Mapping[str, Sequence[str]], name: str) -> frozenset[str]:
    """All values of ``name`` and ``name[]``, repeated or comma-separated (both spellings occur)."""
    found = [*params.get(name, ()), *params.get(name + "[]", ())]
    return frozenset(part for value in found for part in value.split(",") if part)


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _positive_int(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    raw = _single(params, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ParamError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _bound(params: Mapping[str, Sequence[str]], name: str, zone: timezone, end: bool) -> int | None:
    """Epoch ms of a date bound: a bare date is local midnight (start) or the end of that local day (end)."""
    raw = _single(params, name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), zone)
            return to_ms(moment) - (1 if end else 0)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ParamError(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 datetime, got {raw!r}") from None
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def _archived(params: Mapping[str, Sequence[str]]) -> bool:
    raw = _single(params, "archived")
    if raw is None or raw.lower() in ("", "false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise ParamError(f"archived must be true or false, got {raw!r}")


def parse_query(params: Mapping[str, Sequence[str]], utc_offset_hours: float = 0.0) -> Query:
    """Validate a decoded query (``parse_qs`` shape); raise ParamError naming the culprit.

    Naive datetimes and bare dates are read in the server's filter time zone,
    ``UTC+utc_offset_hours``. ``sort_by``/``sort_dir`` are accepted and ignored:
    LIPS orders by ``occurred_at`` descending regardless.
    """
    zone = timezone(timedelta(hours=utc_offset_hours))
    filters = Filters(
        advertisers=_values(params, "global_master_advertiser_id"),
        campaigns=_values(params, "global_master_campaign_id"),
        phones=_values(params, PHONE_PARAM),
        event_types=_values(params, "event_type"),
        channels=_values(params, "channel"),
        archived=_archived(params),
        start_ms=_bound(params, "start_date", zone, end=False),
        end_ms=_bound(params, "end_date", zone, end=True),
    )
    if not filters.advertisers and not filters.campaigns:
        raise ParamError("global_master_advertiser_id or global_master_campaign_id is required")
    return Query(
        filters,
        page=_positive_int(params, "page", 1),
        per_page=_positive_int(params, "per_page", DEFAULT_PER_PAGE),
    )
