"""Every example DAG file imports cleanly and quickly, and Airflow discovers the provider."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DAGS_FOLDER

pytestmark = pytest.mark.airflow


def test_every_dag_file_imports_without_errors() -> None:
    from tests.dags.support import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert {"lips_contact_interactions_daily"} <= set(bag.dag_ids)
    daily = bag.dags["lips_contact_interactions_daily"]
    assert daily.catchup is False
    # Airflow 3.2+: publish_days names the rewritten day partitions, for the per-day DAG (docs/parquet.md).
    partitions = ["publish_days"] if "lips_contact_interactions_per_day" in bag.dag_ids else []
    # Task instances grow with batches of advertisers, not with advertisers (docs/agency-scale.md).
    assert {t.task_id for t in daily.tasks} == {"advertisers", "batch", "publish", "every_advertiser_landed", *partitions}
    # One manifest event per run, from the task after every batch; the batches emit none of their own.
    assert sorted(t.task_id for t in daily.tasks if t.outlets) == ["publish", *partitions]
    assert bag.dags["lips_contact_interactions_load_on_asset"].is_paused_upon_creation is True
    if partitions:
        assert bag.dags["lips_contact_interactions_per_day"].is_paused_upon_creation is True


def test_the_daily_dag_runs_with_its_defaults() -> None:
    """What the Trigger dialog checks before it enables its button: every param valid as it stands."""
    from tests.dags.support import DagBag

    daily = DagBag(dag_folder=str(DAGS_FOLDER)).dags["lips_contact_interactions_daily"]
    validated = daily.params.validate()
    assert validated["advertisers"] is None and validated["base_uri"] is None and validated["lookback"] == "P10D"
    assert validated["batch_size"] == 100


@pytest.mark.integration  # a process of its own
def test_dag_files_touch_no_network_or_database_at_parse_time(tmp_path: Path) -> None:
    """Parse with networking and sqlite connections forbidden: nothing may be attempted."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import socket, sqlite3, sys\n"
        "def refuse(*a, **k): raise RuntimeError('network or DB access at parse time')\n"
        "socket.socket.connect = refuse\n"
        "import runpy\n"
        "parsed = 0\n"
        f"for path in sorted(__import__('pathlib').Path({str(DAGS_FOLDER)!r}).glob('*.py')):\n"
        "    sqlite3.connect = refuse\n"
        "    runpy.run_path(str(path))\n"
        "    parsed += 1\n"
        "print('parsed', parsed)\n"
    )
    result = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    dag_files = list(DAGS_FOLDER.glob("*.py"))
    assert len(dag_files) >= 3  # __init__.py and the example DAGs: an empty folder would prove nothing
    assert result.stdout.strip().endswith(f"parsed {len(dag_files)}")


@pytest.mark.integration  # the airflow CLI as a process
@pytest.mark.parametrize(("command", "needle"), [("list", "airflow-provider-lips"), ("hooks", "lips")])
def test_airflow_lists_the_provider_and_its_hook(command: str, needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", command, "--output", "json"], capture_output=True, text=True, check=True
    )
    rows = json.loads(result.stdout[result.stdout.index("[") :])
    if command == "list":
        assert any(row["package_name"] == needle for row in rows)
    else:
        lips = [row for row in rows if row.get("connection_type") == needle]
        assert lips and lips[0]["class"] == "airflow_provider_lips.hooks.lips.LipsHook"
        assert lips[0]["package_name"] == "airflow-provider-lips"


def test_connection_form_declares_masked_secret_fields() -> None:
    from airflow_provider_lips.provider_info import get_provider_info

    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-lips"
    (lips,) = info["connection-types"]
    assert lips["conn-fields"]["api_key"]["schema"]["format"] == "password"
    assert lips["conn-fields"]["client_secret"]["schema"]["format"] == "password"
    assert {"auth_type", "client_id", "token_url"} <= set(lips["conn-fields"])
    assert "login" not in lips["ui-field-behaviour"]["hidden-fields"]  # the OAuth2 user's name
    assert lips["ui-field-behaviour"]["relabeling"] == {
        "host": "Base URL",
        "login": "OAuth2 username",
        "password": "API token or OAuth2 password",
    }
