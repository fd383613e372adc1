"""The exact half-open window and the server-side dates that cover it in every time zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pull.window import TimeWindow, parse_instant, parse_timestamp


def test_bounds_are_half_open_to_the_millisecond() -> None:
    window = TimeWindow.from_values("2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z")
    assert not window.contains(parse_timestamp("2026-11-27T23:59:59.999Z"))
    assert window.contains(parse_timestamp("2026-11-28T00:00:00.000Z"))
    assert window.contains(parse_timestamp("2026-11-28T23:59:59.999Z"))
    assert not window.contains(parse_timestamp("2026-11-29T00:00:00.000Z"))


def test_offsets_and_pendulum_values_are_compared_in_utc() -> None:
    window = TimeWindow.from_values(pendulum.datetime(2026, 11, 28, tz="Asia/Tokyo"), "2026-11-28T12:00:00+09:00")
    assert window.start == datetime(2026, 11, 27, 15, tzinfo=timezone.utc)
    assert window.contains(parse_timestamp("2026-11-27T15:00:00.000Z"))
    assert not window.contains(parse_timestamp("2026-11-28T03:00:00.000Z"))


@pytest.mark.parametrize("offset_hours", [-12, -5, 0, 5.5, 9, 14])
def test_server_dates_cover_the_window_in_any_zone(offset_hours: float) -> None:
    window = TimeWindow.from_values("2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z")
    first, last = window.server_dates()
    zone = timezone(timedelta(hours=offset_hours))
    # A server in `zone` reads the dates as local days, start of `first` to end of `last`.
    covered_from = datetime.fromisoformat(first).replace(tzinfo=zone)
    covered_to = datetime.fromisoformat(last).replace(tzinfo=zone) + timedelta(days=1)
    assert covered_from <= window.start and window.end <= covered_to
    # ... and also when it reads the end date as that day's midnight (datetime granularity).
    assert window.end <= datetime.fromisoformat(last).replace(tzinfo=zone)


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2026, 11, 28, 6)  # noqa: DTZ001 (the naive input is the point)
    assert parse_instant(naive, "window_start") == datetime(2026, 11, 28, 6, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-11-29", "2026-11-28", "window_end (2026-11-28T00:00:00+00:00) must be later than window_start"),
        ("2026-11-28", "2026-11-28", "must be later than window_start"),
        ("yesterday", "2026-11-28", "window_start='yesterday' is not an ISO-8601 date"),
        ("2026-11-28", "P1D", "window_end='P1D' is a duration or time, not a date"),
        ("2026-11-28", 20261129, "window_end must be a datetime or an ISO-8601 string"),
    ],
)
def test_bad_windows_name_the_parameter(start: object, end: object, message: str) -> None:
    with pytest.raises(LipsValidationError, match=re.escape(message)):
        TimeWindow.from_values(start, end)


def test_lookback_arithmetic_keeps_pendulum_values_aware() -> None:
    window = TimeWindow.from_values(pendulum.datetime(2026, 11, 19, tz="UTC"), pendulum.datetime(2026, 11, 20, tz="UTC"))
    widened = window.widened(timedelta(days=7))
    assert widened.start == datetime(2026, 11, 12, tzinfo=timezone.utc)
    assert widened.contains(parse_timestamp("2026-11-12T00:00:00.000Z"))
