"""The daily DAG pulls advertisers in batches: one 403 inside a batch fails that advertiser alone.

Through Airflow itself (``airflow dags test``), against the sandbox and a SQLite warehouse.
The retry that pulls only the failed advertiser is proven in a real deployment
(tests/deployment/test_agency_scale.py): ``dags test`` starts a new run each time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import expected_ids, lake_partitions

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

LOGICAL_DATE = "2026-11-21"
START, END = datetime(2026, 11, 10, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc)
# USA_4 and USA_5 hold nothing: advertisers without activity are pulled (one request each) and load nothing.
ADVERTISERS = ["USA_1", "USA_2", "USA_3", "USA_4", "USA_5"]


def batch_xcoms(home: Path, key: str) -> dict[int, Any]:
    """The ``batch`` task's XCom ``key`` per map index, as Airflow stored it."""
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT map_index, value FROM xcom WHERE dag_id = 'lips_contact_interactions_daily' AND task_id = 'batch' "
            "AND key = ?", (key,),
        ).fetchall()
    return {index: json.loads(value) for index, value in rows}


def test_one_forbidden_advertiser_fails_alone_inside_its_batch(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox, airflow_db: Path
) -> None:
    sandbox.configure(forbidden_advertisers=["USA_2"])
    site = deployment(ADVERTISERS)
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE, conf={"batch_size": 2})
    assert run.returncode != 0 or "state=failed" in run.log
    # The batch names the advertiser and why; the task log has one line per advertiser.
    assert "1 of 2 advertisers failed: USA_2 (pull: LipsApiError: " in run.log and "403" in run.log
    assert "USA_2: FAILED pull: LipsApiError" in run.log
    assert all(f"{gmaid}: " in run.log and "complete=True" in run.log for gmaid in ("USA_1", "USA_3", "USA_4", "USA_5"))
    # Its batch-mate and the other batches landed and loaded: the warehouse holds exactly their truth.
    truth = {gmaid: expected_ids(sandbox.interactions, START, END, global_master_advertiser_id=gmaid) for gmaid in ADVERTISERS}
    assert truth["USA_1"] and truth["USA_3"] and truth["USA_2"]
    assert site.warehouse_ids() == sorted(truth["USA_1"] | truth["USA_3"])
    for gmaid in ("USA_1", "USA_3"):
        assert set().union(*lake_partitions(site.data / f"gmaid={gmaid}").values()) == truth[gmaid]
    assert not list((site.data / "gmaid=USA_2").rglob("*.jsonl"))
    # The UI's view: each batch's XCom 'advertisers', one row per advertiser, the failure with its reason.
    rows = {row["gmaid"]: row for index_rows in batch_xcoms(airflow_db, "advertisers").values() for row in index_rows}
    assert set(rows) == set(ADVERTISERS)
    assert rows["USA_2"]["status"] == "failed" and "403" in rows["USA_2"]["error"] and rows["USA_2"]["retryable"] is False
    assert {gmaid: row["loaded"] for gmaid, row in rows.items() if gmaid != "USA_2"} == {
        gmaid: len(truth[gmaid]) for gmaid in ("USA_1", "USA_3", "USA_4", "USA_5")
    }
    # The failed batch still hands USA_1's manifest on: publish carries every advertiser that landed.
    manifests = batch_xcoms(airflow_db, "manifests")
    assert sorted(m["filters"]["global_master_advertiser_id"][0] for ms in manifests.values() for m in ms) == [
        "USA_1", "USA_3", "USA_4", "USA_5"
    ]


def test_batches_cost_one_task_instance_per_batch_not_per_advertiser(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox, airflow_db: Path
) -> None:
    site = deployment(ADVERTISERS)
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE, conf={"batch_size": 3})
    assert run.returncode == 0, run.log[-3000:]
    assert sorted(batch_xcoms(airflow_db, "advertisers")) == [0, 1]  # 5 advertisers in batches of 3
    truth = set().union(*(expected_ids(sandbox.interactions, START, END, global_master_advertiser_id=g) for g in ADVERTISERS))
    assert site.warehouse_ids() == sorted(truth)
    # Totals only where they add proof: an advertiser whose listings fit on one page got none.
    sent: dict[str, list[tuple[str, str | None]]] = {gmaid: [] for gmaid in ADVERTISERS}
    for entry in sandbox.requests:
        if entry["path"].startswith("/contact_interactions"):
            page = entry["params"].get("page", [None])[0]
            sent[entry["params"]["global_master_advertiser_id"][0]].append((entry["path"], page))
    for requests in sent.values():
        assert any(page not in (None, "1") for _, page in requests) or {path for path, _ in requests} == {"/contact_interactions"}
    assert sent["USA_4"] == sent["USA_5"] == [("/contact_interactions", "1")] * 2  # live and archived: one page each
