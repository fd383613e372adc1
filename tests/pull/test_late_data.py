"""Late-arriving interactions: daily pulls with a lookback, upserted, end up with everything, exactly once."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.warehouse import load_contact_interactions
from lips_sandbox import LipsSandbox
from tests.support import context, utc

FIRST_DAY = datetime(2026, 11, 15, tzinfo=timezone.utc)
DAYS = 5
RUN_DELAY = timedelta(hours=2)  # each daily run starts at 02:00 the next day


def run_days(sandbox: LipsSandbox, tmp_path: Path, lookback: str | None) -> tuple[set[int], list[dict]]:
    """Pull and load each day as the scheduler would, with the vendor's clock at run time."""
    db = tmp_path / f"warehouse-{lookback}.db"
    manifests = []
    for n in range(DAYS):
        start = FIRST_DAY + timedelta(days=n)
        end = start + timedelta(days=1)
        sandbox.configure(as_of=end + RUN_DELAY)
        manifest = LipsContactInteractionsOperator(
            task_id="pull",
            global_master_advertiser_id="USA_1",
            lookback=lookback,
            destination=f"file://{tmp_path}/{lookback}/date={start.date()}/contact_interactions.jsonl",
        ).execute(context(start, end))
        load_contact_interactions(manifest, "lips_late_warehouse")
        manifests.append(manifest)
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM lips_contact_interactions")}, manifests


def vendor_truth(sandbox: LipsSandbox) -> set[int]:
    """What the vendor holds for those days once the last run has happened."""
    sandbox.configure(as_of=FIRST_DAY + timedelta(days=DAYS) + RUN_DELAY)
    last = (FIRST_DAY + timedelta(days=DAYS - 1)).date().isoformat()
    ids = set(sandbox.truth(global_master_advertiser_id="USA_1", start_date=FIRST_DAY.date().isoformat(), end_date=last))
    assert ids
    return ids


@pytest.mark.parametrize("lookback", [None, "P10D"])
def test_lookback_catches_what_the_vendor_ingests_late(
    lips_conn: LipsSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lookback: str | None
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_LATE_WAREHOUSE",
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / f"warehouse-{lookback}.db")}),
    )
    loaded, manifests = run_days(lips_conn, tmp_path, lookback)
    truth = vendor_truth(lips_conn)
    by_id = {r["id"]: r for r in lips_conn.interactions}
    end = FIRST_DAY + timedelta(days=DAYS)
    # The lookback also loads days before the first one; compare the days the runs were for.
    loaded = {i for i in loaded if FIRST_DAY <= utc(by_id[i]["occurred_at"]) < end}
    if lookback:
        assert loaded == truth
        assert manifests[-1]["window_start"] == "2026-11-09T00:00:00Z"
        assert manifests[-1]["lookback_seconds"] == 10 * 86400
    else:
        missed = truth - loaded
        # Exactly what the vendor had not ingested when that day's run happened.
        late = {
            i for i in truth
            if utc(by_id[i]["created_at"])
            > utc(by_id[i]["occurred_at"]).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) + RUN_DELAY
        }
        assert missed == late and missed, "without lookback the late interactions are lost"
        assert loaded < truth
    lateness = manifests[-1]["lateness_seconds"]
    assert 0 < lateness["p50"] <= lateness["p99"] <= lateness["max"]
