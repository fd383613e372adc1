"""One real Airflow deployment for the deployment and browser tests, wired to a LIPS sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lips_sandbox import LipsSandbox, generate_interactions
from tests.deployment.harness import AirflowDeployment
from tests.support import API_KEY, REPO, TOKEN

ARTIFACTS = REPO / "test-artifacts"
ADVERTISERS = ["USA_1", "USA_2", "USA_3"]
TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
# Up to tomorrow, so a run triggered with the UI's defaults (today's interval) pulls real data too.
DATA_START, DATA_END = TODAY - timedelta(days=40), TODAY + timedelta(days=1)
# The logical date the tests trigger: relative to today, so the data always covers its window whatever the date.
TRIGGERED_LOGICAL_DATE = (TODAY - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Site:
    """The deployment and what it is wired to."""

    airflow: AirflowDeployment
    sandbox: LipsSandbox
    lake: Path
    warehouse_url: str


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_postgres()
    root = tmp_path_factory.mktemp("deployment")
    interactions = generate_interactions(seed=12, count=2400, start=DATA_START, end=DATA_END, advertisers=ADVERTISERS)
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY) as sandbox, AirflowDeployment(
        # The UI's Test button is off by default since Airflow 2.7.
        root, artifacts=ARTIFACTS / "deployment", env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    ) as airflow:
        yield wire(airflow, sandbox, root, ADVERTISERS)


def wire(
    airflow: AirflowDeployment,
    sandbox: LipsSandbox,
    root: Path,
    advertisers: list[str],
    *,
    token: str = TOKEN,
    lips_extra: dict[str, Any] | None = None,
) -> Site:
    """Connections (through the REST API) and Variables that point the deployment at the sandbox and a fresh warehouse."""
    warehouse_url = airflow.databases.create("lips_warehouse")
    client = airflow.client
    client.create_connection(
        "lips_default", "lips", host=sandbox.url, password=token, extra={"api_key": API_KEY, **(lips_extra or {})}
    )
    client.create_connection(
        "lips_warehouse", "postgres", host="127.0.0.1", port=5432, login="postgres", schema=warehouse_url.rsplit("/", 1)[1]
    )
    client.set_variable("lips_advertisers", advertisers)
    client.set_variable("lips_base_uri", f"file://{root / 'lake'}")
    return Site(airflow, sandbox, root / "lake", warehouse_url)


def require_postgres() -> None:
    """Skip (or, with LIPS_REQUIRE_POSTGRES=1 as in CI, fail) without the PostgreSQL server."""
    if not _postgres_up():
        reason = "the deployment tests need PostgreSQL at 127.0.0.1:5432 for Airflow's metadata database"
        if os.environ.get("LIPS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (LIPS_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


def _postgres_up() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        return True
    except OSError:
        return False
