"""The daily DAG through Airflow: pulled files and loaded rows equal the sandbox's truth, id by id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import expected_ids, lake_partitions, truth_by_day

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

# `airflow dags test <date>` on a daily interval timetable runs the interval that ends at <date>.
LOGICAL_DATE = "2026-11-21"
INTERVAL = (datetime(2026, 11, 20, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc))
LOOKBACK = timedelta(days=10)


def test_daily_run_pulls_and_loads_exactly_the_truth(deployment: Callable[..., Deployment], sandbox: LipsSandbox) -> None:
    site = deployment(["USA_1", "USA_2"])
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE)
    assert run.returncode == 0, run.log[-3000:]
    start, end = INTERVAL[0] - LOOKBACK, INTERVAL[1]
    truth = {gmaid: expected_ids(sandbox.interactions, start, end, global_master_advertiser_id=gmaid) for gmaid in ("USA_1", "USA_2")}
    for gmaid, ids in truth.items():
        # One file per day the interactions occurred on, each holding exactly that day's.
        days = lake_partitions(site.data / f"gmaid={gmaid}")
        assert {day: set(found) for day, found in days.items()} == truth_by_day(
            sandbox.interactions, date(2026, 11, 10), date(2026, 11, 20), global_master_advertiser_id=gmaid
        )
        assert sorted(i for found in days.values() for i in found) == sorted(ids) and ids
    assert site.warehouse_ids() == sorted(truth["USA_1"] | truth["USA_2"])
    # A rerun of the same interval replaces the partitions and upserts: no row twice.
    again = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE)
    assert again.returncode == 0, again.log[-3000:]
    assert site.warehouse_ids() == sorted(truth["USA_1"] | truth["USA_2"])


def test_a_forbidden_advertiser_fails_alone(deployment: Callable[..., Deployment], sandbox: LipsSandbox) -> None:
    sandbox.configure(forbidden_advertisers=["USA_3"])
    site = deployment(["USA_1", "USA_3", "USA_2"])
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE)
    assert run.returncode != 0 or "state=failed" in run.log
    assert "LIPS answered 403" in run.log and "may not read this advertiser" in run.log
    start, end = INTERVAL[0] - LOOKBACK, INTERVAL[1]
    loaded = expected_ids(sandbox.interactions, start, end, global_master_advertiser_id="USA_1") | expected_ids(
        sandbox.interactions, start, end, global_master_advertiser_id="USA_2"
    )
    assert site.warehouse_ids() == sorted(loaded)
    assert not (site.data / "gmaid=USA_3").exists() or not list((site.data / "gmaid=USA_3").rglob("*.jsonl"))
