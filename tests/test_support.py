"""The oracles' own parser: the fixed layouts it reads, and what it refuses rather than guess."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support import expected_ids, utc


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-20T16:16:08.005Z", datetime(2026, 11, 20, 16, 16, 8, 5000, tzinfo=timezone.utc)),  # the sandbox's layout
        ("2026-11-20T00:00:00Z", datetime(2026, 11, 20, tzinfo=timezone.utc)),  # Airflow's REST API
        ("2026-11-20T23:59:59.999999+00:00", datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=timezone.utc)),
    ],
)
def test_the_fixed_utc_layouts_are_read_exactly(text: str, moment: datetime) -> None:
    assert utc(text) == moment and utc(text).tzinfo == timezone.utc


@pytest.mark.parametrize("text", ["2026-11-20T16:16:08.005-05:00", "2026-11-20 16:16:08Z", "2026-11-20T16:16:08", "2026-11-20"])
def test_anything_else_is_refused_rather_than_guessed(text: str) -> None:
    with pytest.raises(ValueError, match="not a UTC timestamp"):
        utc(text)


def test_expected_ids_keeps_the_half_open_window_and_leaves_archived_records_out() -> None:
    records = [
        {"id": 1, "occurred_at": "2026-11-19T23:59:59.999Z"},
        {"id": 2, "occurred_at": "2026-11-20T00:00:00.000Z"},
        {"id": 3, "occurred_at": "2026-11-20T23:59:59.999Z", "channel": "search"},
        {"id": 4, "occurred_at": "2026-11-21T00:00:00.000Z"},
        {"id": 5, "occurred_at": "2026-11-20T12:00:00.000Z", "archived_at": "2026-11-22T00:00:00.000Z"},
    ]
    day = datetime(2026, 11, 20, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc)
    assert expected_ids(records, *day) == {2, 3}
    assert expected_ids(records, *day, channel="search") == {3}
