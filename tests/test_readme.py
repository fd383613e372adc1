"""The README's first DAG, copied verbatim, runs green against the sandbox in a fresh Airflow home."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from lips_sandbox.process import SandboxProcess
from tests.support import REPO

pytestmark = pytest.mark.slow  # once, on the newest Airflow: .ci/run's time budget

ADVERTISERS = ("USA_1", "USA_2")


def blocks(language: str) -> list[str]:
    """Every fenced block of ``language`` in the README, exactly as written."""
    text = (REPO / "README.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def only_block(language: str, containing: str) -> str:
    found = [block for block in blocks(language) if containing in block]
    assert len(found) == 1, f"expected one ```{language} block with {containing!r} in README.md, found {len(found)}"
    return found[0]


def truth(url: str, gmaid: str, day: date) -> set[int]:
    """Live and archived ids of the advertiser that occurred on ``day`` (the sandbox's dates are inclusive)."""
    ids: set[int] = set()
    for archived in ("", "&archived=true"):
        query = f"global_master_advertiser_id={gmaid}&start_date={day}&end_date={day}{archived}"
        ids.update(requests.get(f"{url}/_sandbox/truth?{query}", timeout=30).json()["ids"])
    return ids


def test_the_readme_has_one_complete_first_dag() -> None:
    assert len(blocks("python")) == 1, "the README's first DAG is its only python block, so a reader copies the right one"
    dag = blocks("python")[0]
    for name in ("DAG", "CronDataIntervalTimetable", "LipsContactInteractionsOperator", "LipsContactInteractionsToSqlOperator"):
        assert re.search(rf"^from \S+ import .*\b{name}\b", dag, flags=re.MULTILINE), f"the first DAG must import {name}"
    assert "export AIRFLOW_CONN_LIPS_DEFAULT=" in only_block("bash", "AIRFLOW_CONN_LIPS_WAREHOUSE")
    assert only_block("bash", "lips_sandbox").strip() == "python -m lips_sandbox"


def test_the_readme_first_dag_runs_green_against_the_sandbox(tmp_path: Path) -> None:
    connections = only_block("bash", "export AIRFLOW_CONN_LIPS_DEFAULT=")
    run = only_block("bash", "airflow dags test")
    dag = blocks("python")[0]
    # The sandbox as the README starts it: `python -m lips_sandbox`, every option at its default (port 8765).
    with SandboxProcess(port=8765) as sandbox:
        # A fresh user: an empty home, no Airflow or LIPS settings inherited from the test session.
        env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "LIPS_", "XDG_"))}
        env |= {"HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        home = tmp_path / "airflow"
        setup = subprocess.run(["bash", "-euc", connections], env=env, capture_output=True, text=True, timeout=60)
        assert setup.returncode == 0, setup.stderr
        (home / "dags" / "lips_first_dag.py").write_text(dag)  # "Save this as $AIRFLOW_HOME/dags/lips_first_dag.py"
        result = subprocess.run(["bash", "-euc", connections + run], env=env, capture_output=True, text=True, timeout=600)
        log = result.stdout + result.stderr
        (tmp_path / "run.log").write_text(log)
        day = datetime.now(timezone.utc).date() - timedelta(days=1)  # the run for today covers yesterday
        assert result.returncode == 0 and "state=success" in log, log[-5000:]
        with sqlite3.connect(home / "lips-warehouse.db") as db:
            for gmaid in ADVERTISERS:
                expected = truth(sandbox.url, gmaid, day)
                assert expected, f"the sandbox serves {gmaid} on {day}"
                lines = (home / "lips-data" / gmaid / f"{day}.jsonl").read_text().splitlines()
                assert sorted(json.loads(line)["id"] for line in lines) == sorted(expected)
                rows = db.execute(
                    "SELECT id FROM lips_contact_interactions WHERE global_master_advertiser_id = ? "
                    "AND removed_at IS NULL ORDER BY id",
                    (gmaid,),
                ).fetchall()
                assert [row[0] for row in rows] == sorted(expected)
