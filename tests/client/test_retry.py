"""Retry timing: Retry-After in both forms, backoff with jitter and caps, the 429 window rule."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from airflow_provider_lips.client.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after


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


def test_a_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("  5 ") == 5.0


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    policy = RetryPolicy(base_wait=0.5, max_wait=30.0)
    assert all(1.0 <= policy.wait_for(3, "in a moment") <= 2.0 for _ in range(20))
    assert all(1.0 <= policy.wait_for(3, None) <= 2.0 for _ in range(20))
    assert policy.wait_for(3, "0") == 0.0


def test_the_backoff_never_exceeds_max_wait_however_many_attempts() -> None:
    policy = RetryPolicy(base_wait=0.5, max_wait=4.0)
    assert all(2.0 <= policy.backoff(attempt) <= 4.0 for attempt in range(4, 60))


def test_only_transient_statuses_are_retried() -> None:
    assert {429, 500, 502, 503, 504, 408} == RETRYABLE_STATUSES
    assert not RETRYABLE_STATUSES & {400, 401, 403, 404, 422}
