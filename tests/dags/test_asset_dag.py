"""The daily run emits one asset event carrying every pull's manifest; the asset-scheduled DAG loads what they name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment, asset_event_extras
from tests.support import expected_ids

pytestmark = pytest.mark.slow


def test_pull_events_carry_manifests_that_the_asset_dag_loads(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox
) -> None:
    producer = deployment(["USA_1", "USA_2"])
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    run = producer.dags_test("lips_contact_interactions_daily", "2026-11-24")
    assert run.returncode == 0, run.log[-3000:]
    (event,) = asset_event_extras(started)  # one event for the run, after every pull
    manifests = event["manifests"]
    assert sorted(m["filters"]["global_master_advertiser_id"][0] for m in manifests) == ["USA_1", "USA_2"]
    for manifest in manifests:
        assert [f["occurred_date"] for f in manifest["files"]] == [f"2026-11-{day}" for day in range(13, 24)]
        assert all(f["uri"].endswith(f"/occurred_date={f['occurred_date']}/contact_interactions.jsonl") for f in manifest["files"])

    consumer = deployment(["USA_1", "USA_2"])
    consumer.warehouse = producer.warehouse.with_name("asset-warehouse.db")
    consumer.env["AIRFLOW_CONN_LIPS_WAREHOUSE"] = producer.env["AIRFLOW_CONN_LIPS_WAREHOUSE"].replace(
        "warehouse.db", "asset-warehouse.db"
    )
    loaded = consumer.dags_test("lips_contact_interactions_load_on_asset", "2026-11-24", conf={"manifests": manifests})
    assert loaded.returncode == 0, loaded.log[-3000:]
    start, end = datetime(2026, 11, 13, tzinfo=timezone.utc), datetime(2026, 11, 24, tzinfo=timezone.utc)
    truth = expected_ids(sandbox.interactions, start, end, global_master_advertiser_id="USA_1") | expected_ids(
        sandbox.interactions, start, end, global_master_advertiser_id="USA_2"
    )
    assert consumer.warehouse_ids() == sorted(truth)
    assert sum(m["records"] for m in manifests) == len(truth)
