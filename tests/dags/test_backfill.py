"""A four-day backfill writes one partition per occurrence day and a warehouse equal to the truth; repeating it changes nothing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import expected_ids, lake_partitions, truth_by_day

pytestmark = pytest.mark.slow

FIRST = datetime(2026, 11, 15, tzinfo=timezone.utc)
DAYS = 4


def table_snapshot(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return [
            *conn.execute("SELECT * FROM lips_contact_interactions ORDER BY id"),
            *conn.execute("SELECT * FROM lips_contacts ORDER BY id"),
        ]


def test_backfill_twice(deployment: Callable[..., Deployment], sandbox: LipsSandbox) -> None:
    site = deployment(["USA_1", "USA_2"])
    # The interval timetable's run at day n + 1 covers day n.
    days = [(FIRST + timedelta(days=n + 1)).isoformat() for n in range(DAYS)]

    def backfill() -> None:
        run = site.backfill("lips_contact_interactions_daily", days)
        assert run.returncode == 0, run.log[-3000:]
        assert [line.split()[-1] for line in run.log.splitlines() if line.startswith("BACKFILL ")] == ["success"] * DAYS

    backfill()
    start, end = FIRST - timedelta(days=10), FIRST + timedelta(days=DAYS)
    for gmaid in ("USA_1", "USA_2"):
        # Four runs with ten days of lookback: every day from the 5th to the 18th, each file that day's alone.
        lake = lake_partitions(site.data / f"gmaid={gmaid}")
        assert {day: set(ids) for day, ids in lake.items()} == truth_by_day(
            sandbox.interactions, start.date(), (end - timedelta(days=1)).date(), global_master_advertiser_id=gmaid
        )
    truth = expected_ids(sandbox.interactions, start, end, global_master_advertiser_id="USA_1") | expected_ids(
        sandbox.interactions, start, end, global_master_advertiser_id="USA_2"
    )
    assert site.warehouse_ids() == sorted(truth)
    before = table_snapshot(site.warehouse)
    partition = site.data / "gmaid=USA_1" / f"occurred_date={FIRST.date()}" / "contact_interactions.jsonl"
    first_bytes = partition.read_bytes()

    backfill()
    assert table_snapshot(site.warehouse) == before
    assert partition.read_bytes() == first_bytes
    assert json.loads(first_bytes.splitlines()[0])["global_master_advertiser_id"] == "USA_1"
