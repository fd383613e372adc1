"""The `deployment` fixture: an Airflow environment wired to the sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import lips_connection


@pytest.fixture
def deployment(airflow_db: Path, sandbox: LipsSandbox, tmp_path: Path) -> Callable[..., Deployment]:
    def make(advertisers: list[str], **conn_extra: Any) -> Deployment:
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
