"""Six task processes, one token, a server that allows 20 requests/s: the shared budget as the server sees it.

Each process is the operator's pull of one advertiser in a Python process of its own, all
started at the same moment, against one sandbox that answers 429 past 20 requests in any
second. With the machine-local budget and with the Redis one, every output equals its
truth, at most 1 % of requests are refused, and together they still get close to 20/s.
Redis unreachable at the start, or lost in the middle of a pull, stops the pull with an
error that names the connection, and no request goes out without a slot.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsRateBudgetError
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import (
    API_KEY,
    DATA_END,
    DATA_START,
    REPO,
    TOKEN,
    RedisServer,
    busiest_second,
    context,
    expected_ids,
    free_port,
    lips_connection,
    redis_connection,
    run_together,
)

pytestmark = pytest.mark.integration  # task processes, sandboxes and Redis

ADVERTISERS = [f"USA_{n}" for n in range(1, 7)]
LIMIT = 20
PAGE = 10


@pytest.fixture(scope="module")
def data() -> list[dict]:
    """3,600 interactions over six advertisers: about 60 pages of 10 each, as in the issue's trial."""
    return generate_interactions(seed=31, count=3600, start=DATA_START, end=DATA_END, advertisers=ADVERTISERS)


@pytest.mark.parametrize("backend", ["machine", "redis"])
def test_six_task_processes_share_the_limit(
    backend: str, data: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A token of this test only, so its budget is nobody else's (the key hashes URL and token).
    token = f"{TOKEN}-{secrets.token_hex(4)}"
    extra: dict[str, Any] = {"per_page": PAGE}
    if backend == "redis":
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(6379, db=9))
        extra["rate_limit_redis_conn_id"] = "lips_budget_redis"
    with LipsSandbox(data, token=token, api_key=API_KEY, max_per_page=PAGE, rate_limit_rps=LIMIT, latency_ms=50) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, token=token, **extra))
        go = tmp_path / "go"
        commands = [
            [
                sys.executable, "-m", "tests.task_process", "pull",
                json.dumps({
                    "operator": {"global_master_advertiser_id": gmaid, "destination": str(tmp_path / f"{gmaid}.jsonl")},
                    "start": DATA_START.isoformat(), "end": DATA_END.isoformat(), "go": str(go),
                }),
            ]
            for gmaid in ADVERTISERS
        ]
        manifests = [json.loads(out.strip().splitlines()[-1]) for out in run_together(commands, go, timeout=240, cwd=REPO)]
        log = [e for e in server.requests if e["path"].startswith("/contact_interactions")]
    for gmaid, manifest in zip(ADVERTISERS, manifests, strict=True):
        ids = [json.loads(line)["id"] for line in (tmp_path / f"{gmaid}.jsonl").read_text().splitlines()]
        truth = expected_ids(data, DATA_START, DATA_END, global_master_advertiser_id=gmaid)
        assert len(ids) == len(set(ids)) and set(ids) == truth, f"{gmaid}: the output is not its truth"
        assert manifest["records"] == len(truth)
    statuses = Counter(e["status"] for e in log)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[429] <= 0.01 * len(log), f"{statuses[429]} of {len(log)} requests answered 429"
    admitted = sorted(e["time"] for e in log if e["status"] == 200)
    assert busiest_second(admitted) <= LIMIT
    rate = (len(admitted) - 1) / (admitted[-1] - admitted[0])
    assert rate >= 0.85 * LIMIT, f"together the six admitted only {rate:.1f} requests/s of {LIMIT}"


def pull_one(server: LipsSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_port: int) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(redis_port, db=0))
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT",
        lips_connection(server.url, per_page=PAGE, concurrency=4, rate_limit_redis_conn_id="lips_budget_redis"),
    )
    operator = LipsContactInteractionsOperator(
        task_id="pull", global_master_advertiser_id="USA_1", destination=str(tmp_path / "out.jsonl")
    )
    return operator.execute(context(DATA_START, DATA_END))


def test_redis_unreachable_at_the_start_fails_before_any_request(
    data: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    with LipsSandbox(data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE) as server:
        with pytest.raises(LipsRateBudgetError) as caught:
            pull_one(server, tmp_path, monkeypatch, port)
        assert server.requests == [], "a request went out without the shared budget"
    message = str(caught.value)
    assert f"Redis connection 'lips_budget_redis' (127.0.0.1:{port}" in message
    assert "rate_limit_redis_conn_id" in message and "Start that Redis" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_redis_lost_mid_pull_stops_the_pull_and_its_requests(
    data: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_redis: RedisServer
) -> None:
    """Redis dies after 8 requests: the pull fails naming it; only requests that already had a slot arrive after."""
    with LipsSandbox(data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE, latency_ms=30) as server:
        killed_after: list[int] = []

        def kill_when_busy() -> None:
            while len(server.requests) < 8:
                threading.Event().wait(0.005)
            private_redis.kill()
            killed_after.append(len(server.requests))

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        with pytest.raises(LipsRateBudgetError, match="failed while drawing a request slot") as caught:
            pull_one(server, tmp_path, monkeypatch, private_redis.port)
        killer.join(10)
        sent = len(server.requests)
    assert f"127.0.0.1:{private_redis.port}" in str(caught.value) and "task retries will try again" in str(caught.value)
    # Requests granted before Redis died may still arrive (at most one per worker thread); nothing after.
    assert sent - killed_after[0] <= 4, f"{sent - killed_after[0]} requests went out after Redis was gone"
    assert sent < 30, "the pull went on without the budget"
    assert not (tmp_path / "out.jsonl").exists(), "a failed pull left a file behind"
