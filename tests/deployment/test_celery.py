"""The daily DAG on a real multi-worker deployment: CeleryExecutor, two Celery workers, one token, the Redis budget.

A scheduler, dag-processor and api-server on a fresh PostgreSQL database; a Redis broker on
a db number and queue of this test's own; two ``airflow celery worker`` processes; six
advertisers pulled at once on one LIPS token that the sandbox limits to 20 requests/s. The
pulls share the Redis rate budget named by the LIPS connection's ``rate_limit_redis_conn_id``.
Every task instance succeeds, the warehouse equals the truth, and at most 1 % of requests
are answered 429.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lips_sandbox import LipsSandbox, generate_interactions
from tests.deployment.harness import AirflowDeployment
from tests.deployment.site import ARTIFACTS, DAILY, DATA_END, DATA_START, TRIGGERED_LOGICAL_DATE, Site, run_window, warehouse_ids, wire
from tests.support import API_KEY, TOKEN, expected_ids, postgres_unreachable, require_postgres, wait_until

pytestmark = pytest.mark.deployment

ADVERTISERS = [f"USA_{n}" for n in range(1, 7)]
LIMIT = 20
BUDGET_REDIS_DB = 9
WORKERS = ("worker-1", "worker-2")


@dataclass
class CelerySite:
    site: Site
    queue: str


@pytest.fixture(scope="module")
def celery_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CelerySite]:
    require_postgres(postgres_unreachable())
    redis = pytest.importorskip("redis")
    broker_db = 10 + secrets.randbelow(6)
    queue = f"lips-test-{secrets.token_hex(4)}"
    try:
        redis.Redis("127.0.0.1", 6379, db=broker_db).ping()
    except redis.ConnectionError:
        pytest.fail("the CeleryExecutor test needs redis-server at 127.0.0.1:6379 (.ci/run starts it)")
    root = tmp_path_factory.mktemp("celery")
    # A token of this test only: its rate budget in Redis is nobody else's.
    token = f"{TOKEN}-{secrets.token_hex(4)}"
    interactions = generate_interactions(seed=41, count=6000, start=DATA_START, end=DATA_END, advertisers=ADVERTISERS)
    env = {
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
    }
    workers = {
        name: ["celery", "worker", "--queues", queue, "--concurrency", "3", "--celery-hostname", f"{name}@%h",
               "--skip-serve-logs"]
        for name in WORKERS
    }
    with LipsSandbox(
        interactions, token=token, api_key=API_KEY, max_per_page=10, rate_limit_rps=LIMIT, latency_ms=50
    ) as sandbox, AirflowDeployment(
        root, executor="CeleryExecutor", env=env, services=workers, artifacts=ARTIFACTS / "celery"
    ) as airflow:
        airflow.client.create_connection("lips_budget_redis", "redis", host="127.0.0.1", port=6379, extra={"db": BUDGET_REDIS_DB})
        site = wire(
            airflow, sandbox, root, ADVERTISERS, token=token,
            lips_extra={"per_page": 10, "rate_limit_redis_conn_id": "lips_budget_redis"},
        )
        try:
            yield CelerySite(site, queue)
        finally:
            client = redis.Redis("127.0.0.1", 6379, db=broker_db)
            client.delete(queue)
            client.close()


def test_daily_dag_on_two_celery_workers_shares_one_budget(celery_site: CelerySite) -> None:
    site = celery_site.site
    client = site.airflow.client
    client.wait_for_dag(DAILY)
    client.unpause(DAILY)  # catchup=False: the scheduler also starts the latest interval's run
    # One advertiser per batch: six batch tasks spread over both workers, drawing from one budget.
    run_id = client.trigger(DAILY, logical_date=TRIGGERED_LOGICAL_DATE, conf={"batch_size": 1})
    run = client.wait_for_run(DAILY, run_id, timeout=240)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in client.task_instances(DAILY, run_id)}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}
    assert sum(task == "batch" for task, _ in states) == len(ADVERTISERS)
    queues = {ti["queue"] for ti in client.task_instances(DAILY, run_id)}
    assert queues == {celery_site.queue}, "every task went through the Celery queue"

    runs = wait_until(
        lambda: list(client.dag_runs(DAILY)) if all(r["state"] in ("success", "failed") for r in client.dag_runs(DAILY)) else None,
        180, "every daily run to finish",
    )
    assert {r["state"] for r in runs} == {"success"}
    truth: set[int] = set()
    for finished in runs:
        start, end = run_window(finished)
        for gmaid in ADVERTISERS:
            truth |= expected_ids(site.sandbox.interactions, start, end, global_master_advertiser_id=gmaid)
    assert truth and warehouse_ids(site) == sorted(truth)

    # Both workers ran tasks: the pulls really were spread over two Celery worker processes.
    for name in WORKERS:
        log = (site.airflow.logs / f"{name}.log").read_text(errors="replace")
        assert "received" in log, f"celery {name} ran no task"
    pull_log = site.airflow.task_log(DAILY, run_id, "batch", map_index=0)
    assert "Requests draw from the rate budget in Redis connection 'lips_budget_redis'" in pull_log

    # One budget for every worker: the server refused at most 1 % of requests.
    sent = [e for e in site.sandbox.requests if e["path"].startswith("/contact_interactions")]
    statuses = Counter(e["status"] for e in sent)
    assert len(sent) >= 150, f"only {len(sent)} requests: too few for the limit to matter"
    assert set(statuses) <= {200, 429}, statuses
    admitted = sorted(e["time"] for e in sent if e["status"] == 200)
    print(f"CeleryExecutor, 2 workers, 6 advertisers: {len(sent)} requests, {statuses[429]} answered 429, "
          f"{(len(admitted) - 1) / (admitted[-1] - admitted[0]):.1f} admitted/s")
    assert statuses[429] <= 0.01 * len(sent), f"{statuses[429]} of {len(sent)} requests answered 429"

