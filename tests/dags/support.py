"""Running the example DAGs through Airflow itself, against the sandbox and a SQLite warehouse."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

__all__ = ["DagBag", "Deployment"]


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

    def warehouse_ids(self, table: str = "lips_contact_interactions") -> list[int]:
        with sqlite3.connect(self.warehouse) as db:
            return [row[0] for row in db.execute(f"SELECT id FROM {table} ORDER BY id")]


