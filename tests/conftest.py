"""Shared fixtures: an isolated Airflow home, a running LIPS sandbox and connections to it."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lips-airflow-home-"))
REPO = Path(__file__).resolve().parents[1]
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
# Airflow reads its configuration on first import: point it at a throwaway home before that.
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.pop("AIRFLOW_CONN_LIPS_DEFAULT", None)

from airflow_provider_lips.testing.sandbox import LipsSandbox, generate_interactions  # noqa: E402
from tests.support import API_KEY, TOKEN, lips_connection  # noqa: E402

DATA_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DATA_END = datetime(2026, 11, 29, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def interactions() -> list[dict]:
    """1,500 deterministic interactions over November 2026."""
    return generate_interactions(seed=7, count=1500, start=DATA_START, end=DATA_END)


@pytest.fixture
def sandbox(interactions: list[dict]) -> Iterator[LipsSandbox]:
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def lips_conn(sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> LipsSandbox:
    """``lips_default`` pointing at the sandbox, with a fast retry budget."""
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(sandbox.url, requests_per_second=500))
    return sandbox


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database, shared by the tests that run DAGs."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _AIRFLOW_HOME

