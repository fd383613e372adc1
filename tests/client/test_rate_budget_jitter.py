"""The shared budget counts actual sends: late wakers and arrival jitter cost time, not 429s.

Correctness, not timing (throughput lives in benchmarks/): however late its callers wake, the
budget never lets ``limit`` + 1 requests go within its window (1,060 ms at 20/s), measured when
each is sent; and a pull against a sandbox that counts arrivals in a sliding second, each arrival
jittered by tens of milliseconds, gets at most 0.5 % of 429s and every page once.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_lips.client.ratebudget import (
    REDIS_KEY_PREFIX,
    BudgetStore,
    MachineStore,
    RedisStore,
    SendWindow,
    SharedRateBudget,
    budget_rate,
    credentials_key,
    send_window,
)
from airflow_provider_lips.client.ratelimit import RateLimiter
from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import API_KEY, DATA_END, DATA_START, TOKEN, data_requests, expected_ids, lips_connection, pull, run

RATE = 20.0
PAGE = 10


@pytest.fixture(params=["machine", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BudgetStore]]:
    """Stores of one budget of this test's own: each a separate connection, as separate processes hold."""
    key = credentials_key(f"http://127.0.0.1:1/{secrets.token_hex(6)}", TOKEN)
    rate = budget_rate(RATE)
    if request.param == "machine":
        yield lambda: MachineStore(tmp_path, key, rate)
        return
    redis = pytest.importorskip("redis")
    cleanup = redis.Redis("127.0.0.1", 6379, db=9)
    yield lambda: RedisStore(redis.Redis("127.0.0.1", 6379, db=9), key, rate, "Redis db 9", "-")
    prefix = f"{REDIS_KEY_PREFIX}:{key}"
    cleanup.delete(prefix, f"{prefix}:pause", f"{prefix}:sends")
    cleanup.close()


def recording(store: BudgetStore, sent: list[int]) -> BudgetStore:
    """Note every send the store admits, at the time it admits it: the send time its window counts."""
    admit = store.admit

    def admit_and_note(now_ms: int, window: SendWindow) -> int:
        wait = admit(now_ms, window)
        if wait == 0:
            sent.append(now_ms)
        return wait

    store.admit = admit_and_note  # type: ignore[method-assign]
    return store


def test_late_wakers_never_put_more_than_the_limit_in_one_window(store_factory: Callable[[], BudgetStore]) -> None:
    """Four callers that each oversleep by up to 150 ms, 100 sends: every 21 consecutive sends span the window."""
    window = send_window(RATE, budget_rate(RATE))
    assert window == SendWindow(20, 1060)
    sent: list[int] = []
    lock = threading.Lock()

    def caller(seed: int) -> None:
        rng = random.Random(seed)

        def oversleep(seconds: float) -> None:  # a loaded machine wakes its sleepers late
            time.sleep(seconds + rng.uniform(0, 0.15))

        noted: list[int] = []
        budget = SharedRateBudget(recording(store_factory(), noted), RateLimiter(None), window=window, sleep=oversleep)
        try:
            for _ in range(25):
                budget.acquire()
                time.sleep(rng.uniform(0, 0.1))  # and sends late after its slot, too
        finally:
            budget.close()
        with lock:
            sent.extend(noted)

    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 100
    spans = [later - earlier for earlier, later in zip(sent, sent[window.limit :], strict=False)]
    assert min(spans) >= window.span_ms, f"{window.limit + 1} sends within {min(spans)} ms"


def test_an_explained_429_pauses_nobody_an_unexplained_one_everyone(store_factory: Callable[[], BudgetStore]) -> None:
    """A 429 without Retry-After while the log holds a full window is the budget's own near miss: no pause.

    With fewer sends in the log it is someone else's (another client on the token, a lowered
    limit): everyone holds for the full wait.
    """
    store = store_factory()
    try:
        near_miss = SharedRateBudget(store, RateLimiter(None), window=SendWindow(3, 60_000))
        for _ in range(3):
            near_miss.acquire()
        assert near_miss.pause(0.5, hinted=False) is False
        assert store.paused_until_ms() == 0, "a 429 the budget's own sends explain paused everyone"
        someone_else = SharedRateBudget(store, RateLimiter(None), window=SendWindow(10, 60_000))
        assert someone_else.pause(0.5, hinted=False) is True
        assert store.paused_until_ms() > time.time() * 1000 + 300, "an unexplained 429 did not pause everyone"
    finally:
        store.close()


def test_a_pull_against_a_jittery_sliding_window_server_draws_at_most_half_a_percent_of_429s(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """200 pages at 20/s; the sandbox counts each arrival 0-40 ms after it got there, in a sliding second."""
    data = generate_interactions(seed=17, count=200 * PAGE, start=DATA_START, end=DATA_END, advertisers=("USA_1",))
    monkeypatch.setenv("LIPS_RATE_BUDGET_DIR", str(tmp_path))
    with LipsSandbox(
        data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE, rate_limit_rps=RATE, arrival_jitter_ms=40, latency_ms=50
    ) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, requests_per_second=RATE))
        records = run(pull(per_page=PAGE, concurrency=8, completeness="off", xcom_max_records=len(data)), DATA_START, DATA_END)
        log = data_requests(server)
    statuses = Counter(e["status"] for e in log)
    assert statuses[429] <= 0.005 * len(log), f"{statuses[429]} of {len(log)} requests answered 429"
    pages = Counter(e["params"]["page"][0] for e in log if e["status"] == 200)
    assert set(pages.values()) == {1}
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(data, DATA_START, DATA_END)


def test_the_send_window_is_about_a_second_at_any_rate(store_factory: Callable[[], BudgetStore]) -> None:
    # Whole-millisecond slots once stretched it: to 2 s above 530/s (half the rate), to 1,000 s at 1,000,000/s.
    windows = [send_window(rate, budget_rate(rate)) for rate in (20, 20.5, 0.5, 1000, 1_000_000)]
    assert windows == [SendWindow(20, 1060), SendWindow(20, 1040), SendWindow(1, 2100), SendWindow(1000, 1052), SendWindow(1_000_000, 1051)]
    store, window = store_factory(), windows[-1]
    now = int(time.time() * 1000)
    assert [store.admit(now + offset, window) for offset in (0, 1, 2, 1052, 1053)] == [0] * 5
    # What a second later's send counts is that second's: the older sends are gone from the log.
    assert store.sends_within(now + 1053, 10_000) == 2
    store.close()
