"""Shared fixtures: an isolated Airflow home, a running LIPS sandbox and connections to it.

Never import this module from a test (``from tests.conftest import ...``): a second import
runs it again and points AIRFLOW_HOME at a second, empty home for everything after it.
Classes and helpers tests import live in tests/support.py.
"""

from __future__ import annotations

if __name__ != "conftest":  # pytest imports this file as "conftest"; any other import would run it twice
    raise ImportError(
        f"Do not import {__name__}: it would make a second Airflow home for the rest of the run. "
        "Import test helpers (RedisServer, PostgresSchema, ...) from tests.support instead."
    )

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests.support imports nothing of Airflow's, so it may come before the environment below.
from tests.support import (
    API_KEY,
    DAGS_FOLDER,
    DATA_END,
    DATA_START,
    PG,
    TOKEN,
    PostgresSchema,
    RedisServer,
    free_port,
    lips_connection,
    postgres_unreachable,
    require_postgres,
    wait_until,
)

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lips-airflow-home-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
# Airflow reads its configuration on first import: point it at a throwaway home before that.
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.pop("AIRFLOW_CONN_LIPS_DEFAULT", None)
# The machine-local rate budget of this test run (and of every process it starts) lives here.
os.environ["LIPS_RATE_BUDGET_DIR"] = str(_AIRFLOW_HOME / "rate-budget")
# No test may reach a cloud metadata service (169.254.169.254): botocore's credential chain asks it last.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from lips_sandbox import LipsSandbox, generate_interactions  # noqa: E402

TESTS = Path(__file__).resolve().parent
# Folders whose every test meets Airflow's own APIs (connections, operators, hooks, common-sql):
# marked ``airflow`` so that ``make test-oldest`` runs them on the oldest supported Airflow too.
# Modules elsewhere that do (DAG parsing, a daily run, object storage, install metadata) say so
# with ``pytestmark = pytest.mark.airflow`` themselves.
AIRFLOW_FOLDERS = frozenset({"client", "hooks", "operators", "transfers"})
# Modules whose tests run several task processes against one rate budget and count the 429s (marked rate_timing).
RATE_TIMING_MODULES = frozenset({
    "client/test_shared_budget_end_to_end.py",
    "client/test_ratebudget.py",
    "client/test_rate_budget_jitter.py",
    "client/test_rate_limit_end_to_end.py",
})
# Fixtures that start a server or a process or open a database: a test using one, directly or through
# another fixture, is an integration test. Modules that start them themselves mark ``integration``.
INTEGRATION_FIXTURES = frozenset(
    {"sandbox", "lips_conn", "airflow_db", "postgres_schema", "private_redis", "warehouse", "deployment", "site", "serve"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``airflow`` by folder, ``many_processes`` and ``rate_timing`` by folder or module, and ``integration``
    by fixture (``slow`` and ``deployment`` tests are integration tests too).

    ``make test`` runs the ``many_processes`` tests (real deployments, which share a session fixture and
    would compete for 2 cores with each other) one after another beside the rest, then the
    ``rate_timing`` tests alone: they count 429s, which task processes starved of CPU would cause.
    """
    for item in items:
        where = item.path.relative_to(TESTS)
        if where.parts[0] in AIRFLOW_FOLDERS:
            item.add_marker(pytest.mark.airflow)
        if where.parts[0] == "deployment":
            item.add_marker(pytest.mark.many_processes)
        if where.as_posix() in RATE_TIMING_MODULES:
            item.add_marker(pytest.mark.rate_timing)
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & INTEGRATION_FIXTURES or item.get_closest_marker("slow") or item.get_closest_marker("deployment"):
            item.add_marker(pytest.mark.integration)
    # The six-process budget tests first: right after test_ratebudget.py's processes they drew 1.04 % 429s
    # (4 of 384) in two CI runs, where in a fresh pytest process they stayed under 1 % seven times of seven.
    items.sort(key=lambda item: item.path.name != "test_shared_budget_end_to_end.py")  # stable otherwise


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


@pytest.fixture(scope="session", name="postgres_unreachable")
def postgres_unreachable_once() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can; checked once per session."""
    return postgres_unreachable()


@pytest.fixture
def postgres_schema(postgres_unreachable: str | None) -> Iterator[PostgresSchema]:
    """A PostgreSQL schema of this test's own (others run at the same time), dropped afterwards.

    Skips when PostgreSQL is down, unless ``LIPS_REQUIRE_POSTGRES=1`` makes that a failure.
    """
    require_postgres(postgres_unreachable)
    import psycopg

    schema = PostgresSchema(f"lips_test_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(**PG, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema.name}")
    try:
        yield schema
    finally:
        with psycopg.connect(**PG, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema.name} CASCADE")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Its own redis-server (no persistence), stopped at the end of the test, failures included."""
    import socket

    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_until(answers, 20, f"redis-server on port {port}", interval=0.05)
        yield server
    finally:
        server.kill()
