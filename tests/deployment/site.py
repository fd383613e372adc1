"""What the deployment tests share: the data's dates, the triggered logical date, and a deployment wired to a sandbox.

The ``site`` fixture (tests/deployment/conftest.py) builds one :class:`Site` per session from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lips_sandbox import LipsSandbox
from tests.deployment.harness import AirflowDeployment
from tests.support import API_KEY, REPO, TOKEN, utc

ARTIFACTS = REPO / "test-artifacts"
ADVERTISERS = ["USA_1", "USA_2", "USA_3"]
DAILY = "lips_contact_interactions_daily"
ON_ASSET = "lips_contact_interactions_load_on_asset"
LOOKBACK = timedelta(days=10)  # the daily DAG's default lookback
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


def warehouse_ids(site: Site) -> list[int]:
    """The interaction ids in the site's warehouse, read with psycopg rather than the provider's load."""
    import psycopg

    with psycopg.connect(site.warehouse_url.replace("postgresql+psycopg2", "postgresql")) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM lips_contact_interactions ORDER BY id")]


def run_window(run: dict[str, Any]) -> tuple[datetime, datetime]:
    """The window a daily run pulled: its data interval widened by the lookback (a REST API DAG run)."""
    return utc(run["data_interval_start"]) - LOOKBACK, utc(run["data_interval_end"])
