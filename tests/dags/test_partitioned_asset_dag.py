"""Airflow 3.2+: the daily run says which day partitions it rewrote; the per-day DAG runs once per changed day."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import expected_ids

try:
    from airflow.sdk import PartitionedAssetTimetable  # noqa: F401
except ImportError:
    pytest.skip("asset partitions (add_partitions, PartitionedAssetTimetable) need Airflow 3.2+", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

DAILY, PER_DAY = "lips_contact_interactions_daily", "lips_contact_interactions_per_day"
DAYS = [f"2026-11-{day}" for day in range(13, 24)]  # the run for the 23rd with its ten-day lookback


def airflow(deployment: Deployment, *args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "airflow", *args], env=deployment.env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run.stdout + run.stderr


def partition_events(since: datetime) -> list[tuple[str | None, dict]]:
    from sqlalchemy import select

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.partition_key, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "lips_contact_interactions", AssetEvent.timestamp >= since)
        ).all()
    return [(row[0], dict(row[1])) for row in rows]


def per_day_runs() -> dict[str, str]:
    """partition_key -> run_id of the per-day DAG's runs, after the scheduler's step that creates them."""
    from sqlalchemy import select

    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        SchedulerJobRunner(job=Job())._create_dagruns_for_partitioned_asset_dags(session)
    with create_session() as session:
        rows = session.execute(select(DagRun.partition_key, DagRun.run_id).where(DagRun.dag_id == PER_DAY)).all()
    return {str(row[0]): row[1] for row in rows}


def test_each_rewritten_day_runs_the_per_day_dag_once(deployment: Callable[..., Deployment], sandbox: LipsSandbox) -> None:
    producer = deployment(["USA_1", "USA_2"])
    airflow(producer, "dags", "reserialize")
    airflow(producer, "dags", "unpause", PER_DAY)
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    run = producer.dags_test(DAILY, "2026-11-24", conf={"output_format": "parquet"})
    assert run.returncode == 0, run.log[-3000:]

    events = partition_events(started)
    manifest_events = [extra for key, extra in events if key is None]
    day_events = {key: extra for key, extra in events if key is not None}
    assert len(manifest_events) == 1 and len(manifest_events[0]["manifests"]) == 2  # unchanged for the load DAG
    assert sorted(day_events) == DAYS and len(events) == 1 + len(DAYS)
    assert all(extra["format"] == "parquet" and extra["base_uris"] == [f"file://{producer.data}"] for extra in day_events.values())
    written = sorted(path.parent.name for path in producer.data.glob("gmaid=USA_1/occurred_date=*/contact_interactions.parquet"))
    assert written == [f"occurred_date={day}" for day in DAYS]

    runs = per_day_runs()
    assert sorted(runs) == DAYS  # one run per changed day, the day as its partition key

    day = "2026-11-18"
    summary = airflow(producer, "tasks", "test", PER_DAY, "summarize_day", runs[day])
    start = datetime(2026, 11, 18, tzinfo=timezone.utc)
    truth = {
        gmaid: len(expected_ids(sandbox.interactions, start, start + timedelta(days=1), global_master_advertiser_id=gmaid))
        for gmaid in ("USA_1", "USA_2")
    }
    assert f"'day': '{day}', 'records': {sum(truth.values())}" in summary
