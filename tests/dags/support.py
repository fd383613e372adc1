"""Running the example DAGs through Airflow itself, against the sandbox and a SQLite warehouse."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
from tests.support import DAGS_FOLDER

__all__ = ["DagBag", "Deployment", "asset_event_extras", "everything_airflow_stored"]


def everything_airflow_stored(home: Path) -> str:
    """Every row of the metadata DB (XComs, rendered fields, asset events, ...) and every log file."""
    with sqlite3.connect(home / "airflow.db") as db:
        dump = "\n".join(db.iterdump())
    logs = "\n".join(p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file())
    return dump + logs


@dataclass
class DagRun:
    returncode: int
    log: str


@dataclass
class Deployment:
    """An Airflow environment wired to the sandbox: connections, variables, folders."""

    env: dict[str, str]
    warehouse: Path
    data: Path

    def dags_test(self, dag_id: str, logical_date: str, *, conf: dict | None = None) -> DagRun:
        command = [sys.executable, "-m", "airflow", "dags", "test", dag_id, logical_date]
        if conf is not None:
            command += ["--conf", json.dumps(conf)]
        run = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=240)
        return DagRun(run.returncode, run.stdout + run.stderr)

    def backfill(self, dag_id: str, logical_dates: list[str]) -> DagRun:
        """Run ``dag.test()`` once per date in one fresh process (a backfill without a scheduler).

        One process per backfill: Airflow 3.1's in-process test supervisor hangs after
        about a dozen ``dag.test()`` calls in the same process.
        """
        script = (
            "import sys, pendulum\n"
            "from tests.dags.support import DagBag\n"
            f"dag = DagBag(dag_folder={str(DAGS_FOLDER)!r}).dags[{dag_id!r}]\n"
            f"for day in {logical_dates!r}:\n"
            "    run = dag.test(logical_date=pendulum.parse(day))\n"
            "    print('BACKFILL', day, run.state, flush=True)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", script], env=self.env, capture_output=True, text=True, timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
        return DagRun(run.returncode, run.stdout + run.stderr)

    def warehouse_ids(self, table: str = "lips_contact_interactions") -> list[int]:
        with sqlite3.connect(self.warehouse) as db:
            return [row[0] for row in db.execute(f"SELECT id FROM {table} ORDER BY id")]


def asset_event_extras(since: datetime) -> list[dict]:
    """What the metadata DB recorded for the lips_contact_interactions asset after ``since``.

    The manifest events only: on Airflow 3.2+ the daily run's day partitions are events of their
    own, with a partition key (tests/dags/test_partitioned_asset_dag.py reads those).
    """
    from sqlalchemy import select

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    query = (
        select(AssetEvent.extra)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetModel.name == "lips_contact_interactions", AssetEvent.timestamp >= since)
    )
    if hasattr(AssetEvent, "partition_key"):  # Airflow 3.2+
        query = query.where(AssetEvent.partition_key.is_(None))
    with create_session() as session:
        rows = session.execute(query).all()
    return [dict(row[0]) for row in rows]
