"""The half-open time window a pull covers, and the wider one the server is asked for.

LIPS filters ``start_date``/``end_date`` inclusively on ``occurred_at`` and documents
neither their granularity (date or datetime) nor the time zone it applies. We ask for whole
dates wide enough that a server in any zone from UTC-12 to UTC+14 returns every record of
the window, then keep exactly ``start <= occurred_at < end`` on the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pendulum
from pendulum.parsing.exceptions import ParserError

from airflow_provider_lips.exceptions import LipsValidationError

# The extreme civil time zones in use: a date means a different 24 h in each.
_WESTMOST_OFFSET = timedelta(hours=-12)
_EASTMOST_OFFSET = timedelta(hours=14)
_TICK = timedelta(microseconds=1)  # the window's end is exclusive


def parse_instant(value: Any, name: str) -> datetime:
    """Turn a datetime or ISO-8601 string into an aware UTC datetime; naive values are read as UTC."""
    parsed: Any
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = pendulum.parse(value.strip(), strict=False, tz="UTC")
        except (ValueError, TypeError, ParserError) as err:
            raise LipsValidationError(
                f"{name}={value!r} is not an ISO-8601 date or datetime; "
                f"use e.g. '2026-11-28' or '2026-11-28T00:00:00Z'."
            ) from err
        if not isinstance(parsed, datetime):
            raise LipsValidationError(f"{name}={value!r} is a duration or time, not a date; use e.g. '2026-11-28'.")
    else:
        raise LipsValidationError(
            f"{name} must be a datetime or an ISO-8601 string, got {value!r}; "
            f"leave it unset to use the run's data interval."
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    utc = parsed.astimezone(timezone.utc)
    # A plain datetime: pendulum's subclass drops a stdlib tzinfo in arithmetic.
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc
    )


def parse_timestamp(value: str) -> datetime:
    """Parse a LIPS timestamp such as ``2021-09-06T16:16:08.000Z`` (any ISO-8601 offset works)."""
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class TimeWindow:
    """``start <= occurred_at < end``, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def from_values(cls, start: Any, end: Any, *, start_name: str = "window_start", end_name: str = "window_end") -> TimeWindow:
        window = cls(parse_instant(start, start_name), parse_instant(end, end_name))
        if window.end <= window.start:
            raise LipsValidationError(
                f"{end_name} ({window.end.isoformat()}) must be later than {start_name} "
                f"({window.start.isoformat()}); the window is half-open [start, end)."
            )
        return window

    def widened(self, by: timedelta) -> TimeWindow:
        """The same end, ``by`` earlier start (lookback)."""
        return TimeWindow(self.start - by, self.end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def whole_days(self) -> TimeWindow:
        """The smallest window of whole UTC days that covers this one."""
        start = datetime.combine(self.start.astimezone(timezone.utc).date(), time.min, timezone.utc)
        end = datetime.combine(self.end.astimezone(timezone.utc).date(), time.min, timezone.utc)
        return TimeWindow(start, end if end == self.end else end + timedelta(days=1))

    def days(self) -> list[date]:
        """Every UTC day the window touches, in order."""
        first, last = self.start.astimezone(timezone.utc).date(), (self.end - _TICK).astimezone(timezone.utc).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def server_dates(self) -> tuple[str, str]:
        """Inclusive ``start_date``/``end_date`` that cover the window in every zone and granularity."""
        first: date = (self.start + _WESTMOST_OFFSET).date()
        # One extra day in case the server reads a bare end date as that day's midnight.
        last: date = (self.end + _EASTMOST_OFFSET).date() + timedelta(days=1)
        return first.isoformat(), last.isoformat()

    def as_dict(self) -> dict[str, str]:
        return {"window_start": iso_utc(self.start), "window_end": iso_utc(self.end)}


def day_window(day: date) -> TimeWindow:
    """The UTC day ``day`` as a window."""
    start = datetime.combine(day, time.min, timezone.utc)
    return TimeWindow(start, start + timedelta(days=1))


def iso_utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_lookback(value: Any) -> timedelta:
    """A timedelta, an ISO-8601 duration such as ``P3D``/``PT36H``, or seconds; ``None`` is zero."""
    if value is None or value == "":
        return timedelta(0)
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        try:
            parsed = pendulum.parse(value.strip())
        except Exception as err:
            raise LipsValidationError(f"lookback={value!r} is not an ISO-8601 duration; use e.g. 'P3D' or 'PT36H'.") from err
        if not isinstance(parsed, timedelta):
            raise LipsValidationError(f"lookback={value!r} is a date, not a duration; use e.g. 'P3D' or 'PT36H'.")
        result = timedelta(seconds=parsed.total_seconds())
    else:
        raise LipsValidationError(f"lookback must be a timedelta or an ISO-8601 duration like 'P3D', got {value!r}.")
    if result < timedelta(0):
        raise LipsValidationError(f"lookback={value!r} is negative; use a positive duration such as 'P3D'.")
    return result


def iso_duration(seconds: float) -> str:
    """Whole hours, rounded up, as an ISO-8601 duration (``PT36H``, ``P2DT1H``)."""
    hours = int(-(-seconds // 3600))
    return f"P{hours // 24}DT{hours % 24}H" if hours >= 24 else f"PT{hours}H"
