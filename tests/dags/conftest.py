"""Run the example DAGs through Airflow itself, against the sandbox and a SQLite warehouse."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_lips.sandbox import LipsSandbox
from tests.conftest import lips_connection

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


@pytest.fixture
def deployment(airflow_db: Path, sandbox: LipsSandbox, tmp_path: Path) -> Callable[..., Deployment]:
    def make(advertisers: list[str], **conn_extra: object) -> Deployment:
        warehouse, data = tmp_path / "warehouse.db", tmp_path / "data"
        env = {
            **os.environ,
            "AIRFLOW_CONN_LIPS_DEFAULT": lips_connection(sandbox.url, **conn_extra),
            "AIRFLOW_CONN_LIPS_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
            "AIRFLOW_VAR_LIPS_ADVERTISERS": json.dumps(advertisers),
            "AIRFLOW_VAR_LIPS_BASE_URI": f"file://{data}",
        }
        return Deployment(env, warehouse, data)

    return make
