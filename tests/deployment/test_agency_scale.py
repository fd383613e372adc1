"""Agency scale in a real deployment: 200 advertisers in batches, one answering 403, then a retry of only it.

A scheduler with LocalExecutor on PostgreSQL runs the daily DAG. The forbidden advertiser fails
its batch alone (the run fails naming it; the other 199 land and load); once the vendor lets the
credentials read it, clearing the failed batch pulls that advertiser only (the task state store
remembers the others) and the warehouse equals the vendor's truth for all 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox, generate_interactions
from tests.deployment.harness import AirflowDeployment
from tests.deployment.site import ARTIFACTS, DAILY, DATA_END, DATA_START, TRIGGERED_LOGICAL_DATE, Site, run_window, warehouse_ids, wire
from tests.support import API_KEY, TOKEN, expected_ids, postgres_unreachable, require_postgres, wait_until

pytestmark = pytest.mark.deployment

ADVERTISERS = [f"USA_{n}" for n in range(1001, 1201)]
FORBIDDEN = "USA_1150"
BATCH_SIZE = 100  # the daily DAG's default


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_postgres(postgres_unreachable())
    root: Path = tmp_path_factory.mktemp("agency")
    interactions = generate_interactions(seed=17, count=6000, start=DATA_START, end=DATA_END, advertisers=ADVERTISERS)
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY) as sandbox, AirflowDeployment(
        root, artifacts=ARTIFACTS / "agency-scale"
    ) as airflow:
        yield wire(airflow, sandbox, root, ADVERTISERS, lips_extra={"requests_per_second": 100})


def sent_for(sandbox: LipsSandbox, since: int) -> set[str]:
    """The gmaids the data requests logged from position ``since`` on asked for."""
    return {
        gmaid for entry in sandbox.requests[since:] if entry["path"].startswith("/contact_interactions")
        for gmaid in entry["params"].get("global_master_advertiser_id", [])
    }


def test_a_few_hundred_advertisers_equal_the_truth_and_a_retry_pulls_only_the_failed_one(agency: Site) -> None:
    client, sandbox = agency.airflow.client, agency.sandbox
    sandbox.configure(forbidden_advertisers=[FORBIDDEN])
    client.wait_for_dag(DAILY)
    client.unpause(DAILY)  # catchup=False: the scheduler also starts the latest interval's run
    run_id = client.trigger(DAILY, logical_date=TRIGGERED_LOGICAL_DATE)
    client.wait_for_run(DAILY, run_id, timeout=240)
    runs = wait_until(
        lambda: (lambda found: found if all(r["state"] in ("success", "failed") for r in found) else None)(client.dag_runs(DAILY)),
        240, "every daily run to finish",
    )
    # Task instances per run grow with batches: the advertisers task, 3 batches, publish (and publish_days on
    # Airflow 3.2+), every_advertiser_landed.
    for run in runs:
        states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in client.task_instances(DAILY, run["dag_run_id"])}
        assert run["state"] == "failed" and sum(task == "batch" for task, _ in states) == len(ADVERTISERS) // BATCH_SIZE, states
        assert {task for task, _ in states} - {"batch"} <= {"advertisers", "publish", "publish_days", "every_advertiser_landed"}
        failed = [index for (task, index), state in states.items() if state == "failed"]
        assert failed == [ADVERTISERS.index(FORBIDDEN) // BATCH_SIZE] and states[("publish", -1)] == "success"
        assert states[("every_advertiser_landed", -1)] == "upstream_failed"  # why the run shows failed
        rows = client.get(f"/dags/{DAILY}/dagRuns/{run['dag_run_id']}/taskInstances/batch/xcomEntries/advertisers",
                          map_index=failed[0], deserialize=True)["value"]
        assert [row["gmaid"] for row in rows if row["status"] == "failed"] == [FORBIDDEN] and "403" in rows[
            [row["gmaid"] for row in rows].index(FORBIDDEN)]["error"]
    windows = [run_window(run) for run in runs]

    def truth(gmaids: list[str]) -> list[int]:
        return sorted(set().union(*(expected_ids(sandbox.interactions, start, end, global_master_advertiser_id=gmaid)
                                    for start, end in windows for gmaid in gmaids)))

    others = [gmaid for gmaid in ADVERTISERS if gmaid != FORBIDDEN]
    assert truth([FORBIDDEN]) and warehouse_ids(agency) == truth(others)
    log = agency.airflow.task_log(DAILY, run_id, "batch", map_index=ADVERTISERS.index(FORBIDDEN) // BATCH_SIZE)
    assert f"1 of {BATCH_SIZE} advertisers failed: {FORBIDDEN} (pull: LipsApiError" in log
    assert f"{FORBIDDEN}: FAILED pull: LipsApiError" in log

    # The vendor now lets the credentials read it; clearing the failed batches pulls that advertiser alone.
    sandbox.configure(forbidden_advertisers=[])
    since = len(sandbox.requests)
    for run in runs:
        client.post(f"/dags/{DAILY}/clearTaskInstances", {
            "dry_run": False, "dag_run_id": run["dag_run_id"], "task_ids": ["batch"], "only_failed": True,
            "include_downstream": True,
        })
    for run in runs:
        assert client.wait_for_run(DAILY, run["dag_run_id"], timeout=180)["state"] == "success"
    assert sent_for(sandbox, since) == {FORBIDDEN}
    assert warehouse_ids(agency) == truth(ADVERTISERS)
