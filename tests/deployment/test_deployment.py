"""The daily DAG in a real deployment: connections made through the REST API, a scheduler, LocalExecutor workers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.deployment.site import ADVERTISERS, DAILY, ON_ASSET, TRIGGERED_LOGICAL_DATE, Site, run_window, warehouse_ids
from tests.support import expected_ids, lake_partitions, truth_by_day, wait_until

pytestmark = pytest.mark.deployment


def test_daily_dag_in_a_real_deployment(site: Site) -> None:
    client = site.airflow.client
    client.wait_for_dag(DAILY)
    client.wait_for_dag(ON_ASSET)
    assert client.get(f"/dags/{ON_ASSET}")["is_paused"] is True  # paused on creation: an opt-in alternative
    client.unpause(ON_ASSET)
    client.unpause(DAILY)  # catchup=False: the scheduler also starts the latest interval's run
    run_id = client.trigger(DAILY, logical_date=TRIGGERED_LOGICAL_DATE)
    run = client.wait_for_run(DAILY, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in client.task_instances(DAILY, run_id)}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}
    assert sum(task == "batch" for task, _ in states) == 1  # every advertiser in one batch (batch_size 100)
    # What the UI shows of the batch: one row per advertiser, each pulled complete and loaded.
    rows = client.get(f"/dags/{DAILY}/dagRuns/{run_id}/taskInstances/batch/xcomEntries/advertisers",
                      map_index=0, deserialize=True)["value"]
    assert [(row["gmaid"], row["status"], row["complete"]) for row in rows] == [(gmaid, "ok", True) for gmaid in ADVERTISERS]

    # Every finished daily run (the triggered one and the scheduler's own) is in the warehouse and the lake, exactly.
    runs = wait_until(
        lambda: (lambda found: found if all(r["state"] in ("success", "failed") for r in found) else None)(client.dag_runs(DAILY)),
        150, "every daily run to finish",
    )
    assert {r["state"] for r in runs} == {"success"}
    windows = [run_window(finished) for finished in runs]
    truth = {gmaid: set().union(*(expected_ids(site.sandbox.interactions, start, end, global_master_advertiser_id=gmaid)
                                  for start, end in windows)) for gmaid in ADVERTISERS}
    assert all(truth.values()) and warehouse_ids(site) == sorted(set().union(*truth.values()))
    # The lake holds exactly the days the runs covered: the union of each run's day partitions, which need
    # not adjoin (the triggered run and the scheduler's latest interval may lie days apart).
    for gmaid in ADVERTISERS:
        lake = lake_partitions(site.lake / f"gmaid={gmaid}")
        covered: dict[str, set[int]] = {}
        for start, end in windows:
            covered.update(truth_by_day(site.sandbox.interactions, start.date(), (end - timedelta(days=1)).date(),
                                        global_master_advertiser_id=gmaid))
        assert {day: set(ids) for day, ids in lake.items()} == covered
    written = {f"file://{path}" for path in site.lake.rglob("contact_interactions.jsonl")}

    # The scheduler turned the daily runs' asset events (one per run) into runs of the asset-scheduled
    # DAG, which took in every file the daily runs wrote, whatever the timing of the events.
    def loaded() -> set[str] | None:
        asset_runs = client.dag_runs(ON_ASSET)
        if not asset_runs or any(r["state"] not in ("success", "failed") for r in asset_runs):
            return None
        assert {r["state"] for r in asset_runs} == {"success"} and {r["run_type"] for r in asset_runs} == {"asset_triggered"}
        taken = [
            client.get(f"/dags/{ON_ASSET}/dagRuns/{r['dag_run_id']}/taskInstances/manifests/xcomEntries/return_value",
                       deserialize=True)["value"]
            for r in asset_runs
        ]
        files = {f["uri"] for manifests in taken for m in manifests for f in m["files"]}
        return files if files >= written else None

    assert wait_until(loaded, 120, "the asset-scheduled DAG to load every file the daily runs wrote") == written
