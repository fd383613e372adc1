"""The in-process pacer, on a fake clock so the numbers are exact."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_lips.client.ratelimit import RateLimiter


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
