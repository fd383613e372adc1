"""The shared rate budget across real processes: machine-local SQLite and Redis, pauses, lost stores.

Every process here is a separate Python process drawing from the budget (``tests/task_process.py``),
so the sharing is the one Airflow task processes get, not threads of one interpreter.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.client.ratebudget import (
    REDIS_KEY_PREFIX,
    MachineStore,
    RedisStore,
    SharedRateBudget,
    budget_rate,
    credentials_key,
    open_rate_budget,
)
from airflow_provider_lips.client.ratelimit import RateLimiter
from airflow_provider_lips.exceptions import AirflowFailException, LipsRateBudgetError, LipsValidationError
from tests.support import REPO, RedisServer, busiest_second, free_port, redis_connection, run_together

pytestmark = pytest.mark.integration  # task processes and Redis

SHARED_REDIS = "127.0.0.1", 6379
RATE = 20.0
TOKEN = "budget-token-" + secrets.token_hex(4)


@pytest.fixture
def base_url() -> str:
    """Credentials of this test only: nobody else draws from its budget."""
    return f"http://127.0.0.1:1/{secrets.token_hex(6)}"


@pytest.fixture
def shared_redis(monkeypatch: pytest.MonkeyPatch, base_url: str) -> Iterator[str]:
    """The machine's Redis as Airflow connection ``lips_budget_redis`` (db 9); this test's keys are deleted after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(*SHARED_REDIS, db=9)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("these tests need redis-server at 127.0.0.1:6379 (.ci/run starts it)")
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(SHARED_REDIS[1], db=9))
    yield "lips_budget_redis"
    key = f"{REDIS_KEY_PREFIX}:{credentials_key(base_url, TOKEN)}"
    client.delete(key, f"{key}:pause")
    client.close()


def budget_args(base_url: str, redis_conn_id: str | None = None, rate: float = RATE) -> dict[str, Any]:
    return {
        "lips_conn_id": "lips_default",
        "base_url": base_url,
        "token": TOKEN,
        "requests_per_second": rate,
        "redis_conn_id": redis_conn_id,
    }


def processes(mode: str, specs: list[dict[str, Any]], go: Path) -> list[Any]:
    commands = [[sys.executable, "-m", "tests.task_process", mode, json.dumps({**spec, "go": str(go)})] for spec in specs]
    return [json.loads(out) for out in run_together(commands, go, cwd=REPO)]


@pytest.mark.parametrize("backend", ["machine", "redis"])
def test_four_processes_share_one_budget(backend: str, base_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """4 processes x 30 slots at 20/s: never more than 20 in any second, together, and still close to 20/s."""
    redis_conn_id = request.getfixturevalue("shared_redis") if backend == "redis" else None
    spec = {"budget": budget_args(base_url, redis_conn_id), "count": 30}
    times = sorted(t for out in processes("draw", [spec] * 4, tmp_path / "go") for t in out)
    assert len(times) == 120
    assert busiest_second(times) <= RATE, "the processes together went over the budget"
    # One schedule for all four: evenly spaced slots at 5 % under the limit, whoever holds them.
    together = (len(times) - 1) / (times[-1] - times[0])
    assert together >= 0.85 * RATE, f"the shared budget crawled: {together:.1f}/s"


@pytest.mark.parametrize("backend", ["machine", "redis"])
def test_a_pause_in_one_process_holds_the_others(
    backend: str, base_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A 429 in one process (pause 1.5 s) holds a slot drawn in another until the pause is over."""
    redis_conn_id = request.getfixturevalue("shared_redis") if backend == "redis" else None
    args = budget_args(base_url, redis_conn_id)
    [pause_ends] = processes("pause", [{"budget": args, "seconds": 1.5}], tmp_path / "go-pause")
    budget = open_rate_budget(**args)
    try:
        budget.acquire()
        granted = time.time()
    finally:
        budget.close()
    assert granted >= pause_ends - 0.05, f"a slot was granted {pause_ends - granted:.2f}s before the pause ended"


@pytest.mark.parametrize("backend", ["machine", "redis"])
def test_slots_are_reserved_ahead_in_one_schedule_so_late_wakers_cannot_shift_it(
    backend: str, base_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two processes' budgets (two stores) whose callers never sleep: every slot still lands 53 ms after the last."""
    rate = budget_rate(RATE)
    assert (rate.limit, rate.interval, rate.burst) == (1, 53, 1), "20/s with 5 % headroom: a slot every 53 ms"
    wakes: list[float] = []

    def never_sleep(seconds: float) -> None:  # a caller that is "late" by its whole wait
        wakes.append(time.time() * 1000 + seconds * 1000)

    def budget() -> SharedRateBudget:
        key = credentials_key(base_url, TOKEN)
        if backend == "machine":
            return SharedRateBudget(MachineStore(tmp_path, key, rate), RateLimiter(None), sleep=never_sleep)
        import redis

        request.getfixturevalue("shared_redis")  # deletes this test's keys afterwards
        client = redis.Redis(*SHARED_REDIS, db=9)
        return SharedRateBudget(RedisStore(client, key, rate, "Redis db 9", "-"), RateLimiter(None), sleep=never_sleep)

    first, second = budget(), budget()
    try:
        for n in range(20):
            (first if n % 2 else second).acquire()
    finally:
        first.close()
        second.close()
    assert len(wakes) == 19, "the first slot is now; every later one is reserved ahead"
    gaps = [later - earlier for earlier, later in itertools.pairwise(wakes)]
    assert all(50 <= gap <= 56 for gap in gaps), f"the schedule drifted: gaps of {[round(g) for g in gaps]} ms"


def test_the_budget_is_named_by_a_hash_never_the_token(base_url: str, tmp_path: Path, shared_redis: str) -> None:
    folder = tmp_path / "budget"
    key = credentials_key(base_url, TOKEN)
    assert key == credentials_key(base_url + "/", TOKEN), "a trailing slash is the same base URL"
    assert key != credentials_key(base_url, TOKEN + "x") and key != credentials_key(base_url + "x", TOKEN)
    for redis_conn_id in (None, shared_redis):
        budget = open_rate_budget(**budget_args(base_url, redis_conn_id), folder=folder)
        budget.acquire()
        budget.pause(0.01)
        budget.close()
    import redis

    client = redis.Redis(*SHARED_REDIS, db=9, decode_responses=True)
    stored = [str(name) for name in client.keys(f"{REDIS_KEY_PREFIX}:{key}*")]
    assert stored, "the Redis budget exists under the hash"
    files = [path.name for path in folder.iterdir()]
    assert any(name.startswith(key) for name in files)
    for text in stored + files + [path.read_bytes().decode("latin-1") for path in folder.iterdir()]:
        assert TOKEN not in text and "127.0.0.1:1" not in text


def test_unreachable_redis_fails_at_start_naming_the_connection_and_the_fix(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nobody listens there
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(port))
    started = time.monotonic()
    with pytest.raises(LipsRateBudgetError) as caught:
        open_rate_budget(**budget_args(base_url, "lips_budget_redis"))
    message = str(caught.value)
    assert "'lips_budget_redis'" in message and f"127.0.0.1:{port}" in message
    assert "rate_limit_redis_conn_id" in message and "'lips_default'" in message
    assert "Start that Redis or correct connection 'lips_budget_redis'" in message
    assert "task retries will try again" in message
    assert not isinstance(caught.value, AirflowFailException), "Airflow must be allowed to retry"
    assert time.monotonic() - started < 15


def test_redis_lost_mid_pull_stops_every_draw(
    base_url: str, monkeypatch: pytest.MonkeyPatch, private_redis: RedisServer
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(private_redis.port))
    budget = open_rate_budget(**budget_args(base_url, "lips_budget_redis"))
    try:
        for _ in range(3):
            budget.acquire()
        private_redis.kill()
        with pytest.raises(LipsRateBudgetError, match="failed while drawing a request slot") as caught:
            budget.acquire()
        assert f"127.0.0.1:{private_redis.port}" in str(caught.value)
        with pytest.raises(LipsRateBudgetError, match="failed while recording a 429 pause"):
            budget.pause(1.0)
    finally:
        budget.close()


def test_a_redis_connection_that_does_not_exist_is_a_validation_error(base_url: str) -> None:
    with pytest.raises(LipsValidationError, match=r"names Redis connection 'no_such_redis'.*Create it"):
        open_rate_budget(**budget_args(base_url, "no_such_redis"))


def test_an_unusable_machine_folder_names_the_folder_and_the_setting(base_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(LipsRateBudgetError, match="LIPS_RATE_BUDGET_DIR") as caught:
        open_rate_budget(**budget_args(base_url), folder=blocker / "budget")
    assert str(blocker / "budget") in str(caught.value)
