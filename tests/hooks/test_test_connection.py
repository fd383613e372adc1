"""The Test button: one request, no shared rate budget opened (nor left open), every failure (False, reason).

Real HTTP against the sandbox; a real redis-server of the test's own, killed to play "Redis is down".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_lips.hooks.lips import LipsHook
from lips_sandbox import LipsSandbox
from tests.support import RedisServer, lips_connection, redis_connection


def test_it_opens_no_machine_budget(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A folder of its own: tests running beside this one open (and checkpoint) budgets in the shared one.
    folder = tmp_path / "rate-budget"
    monkeypatch.setenv("LIPS_RATE_BUDGET_DIR", str(folder))
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_TEST", lips_connection(lips_conn.url, requests_per_second=3))
    hook = LipsHook("lips_test")
    assert hook.test_connection() == (True, f"Connected to {lips_conn.url}: credentials accepted.")
    assert not folder.exists() or not any(folder.iterdir()), "the Test button created a rate-budget file"
    assert "rate_limiter" not in hook.__dict__ and "requester" not in hook.__dict__, "nothing left open"
    assert len(lips_conn.requests) == 1


def test_redis_down_is_false_with_the_reason(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, private_redis: RedisServer
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(private_redis.port))
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(lips_conn.url, rate_limit_redis_conn_id="lips_budget_redis"))
    private_redis.kill()
    ok, message = LipsHook().test_connection()
    assert not ok
    assert f"127.0.0.1:{private_redis.port}" in message and "rate_limit_redis_conn_id" in message, message
    assert lips_conn.requests == [], "no request before the budget it would draw from answers"


def test_a_reachable_redis_is_checked_and_closed_again(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, private_redis: RedisServer
) -> None:
    redis = pytest.importorskip("redis")
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_BUDGET_REDIS", redis_connection(private_redis.port))
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(lips_conn.url, rate_limit_redis_conn_id="lips_budget_redis"))
    watcher = redis.Redis(port=private_redis.port)
    clients = len(watcher.client_list())
    assert LipsHook().test_connection()[0] is True
    assert len(watcher.client_list()) == clients, "the budget's Redis connection was left open"
    watcher.close()


def test_unreadable_settings_are_false_with_the_field(lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(lips_conn.url, max_response_bytes="lots"))
    ok, message = LipsHook().test_connection()
    assert not ok and "extra 'max_response_bytes' must be a positive integer, got 'lots'" in message
    assert lips_conn.requests == []
