"""The shared pacer and the retry timing, on a fake clock so the numbers are exact."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_lips.ratelimit import RateLimiter
from airflow_provider_lips.retry import RetryPolicy, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_slots_are_evenly_spaced_under_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, headroom=0.05, clock=clock, sleep=clock.sleep)
    granted = []
    for _ in range(100):
        limiter.acquire()
        granted.append(clock.now)
    # No one-second window holds more than 20 grants.
    assert max(sum(1 for t in granted if s <= t < s + 1) for s in granted) == 20
    assert granted[-1] == pytest.approx(99 * 1.05 / 20)


def test_a_pause_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(3.0)
    limiter.acquire()
    assert clock.now == 3.0


def test_threads_share_one_budget() -> None:
    limiter = RateLimiter(50)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 40
    # 40 grants at 50/s with 5 % headroom cannot happen faster than 39 * 21 ms, however threads interleave.
    assert stamps[-1] - stamps[0] >= 39 * 1.05 / 50 - 0.005


def test_retry_after_in_both_forms() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=4), usegmt=True), now=now) == 4.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_with_jitter_and_respects_the_cap() -> None:
    policy = RetryPolicy(base_wait=0.5, max_wait=4.0)
    rng = random.Random(1)
    waits = [policy.backoff(attempt, rng) for attempt in range(1, 7)]
    for attempt, wait in enumerate(waits, 1):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert policy.wait_for(1, "120") == 4.0


def test_a_429_without_retry_after_waits_out_the_one_second_window() -> None:
    """The documented 429 has no header: hold for the window, longer only if the same request is refused again."""
    policy = RetryPolicy(base_wait=0.5, max_wait=30.0)
    assert [policy.wait_after_429(1, None) for _ in range(20)] == [1.0] * 20  # the first backoff (0.25-0.5 s) would end inside the window
    assert policy.wait_after_429(2, None) == 1.0  # 0.5-1 s: still the window
    assert all(1.0 <= policy.wait_after_429(3, None) <= 2.0 for _ in range(20))  # refused again: backoff
    assert all(policy.wait_after_429(n, None) <= 30.0 for n in range(1, 12))
    assert RetryPolicy(base_wait=0.01, max_wait=0.2).wait_after_429(1, None) == 1.0  # never shorter than the window


def test_a_429_with_retry_after_follows_the_server() -> None:
    policy = RetryPolicy(max_wait=30.0)
    assert policy.wait_after_429(1, "3") == 3.0
    assert policy.wait_after_429(4, "0") == 0.0
    assert policy.wait_after_429(1, "120") == 30.0
    assert policy.wait_after_429(1, "soon") == 1.0  # unreadable: as if absent
