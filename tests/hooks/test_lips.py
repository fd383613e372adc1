"""LipsHook against the sandbox over real HTTP: headers, encoding, retries, redirects, Test button."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_lips import __version__
from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.client.retry import RetryPolicy
from airflow_provider_lips.exceptions import LipsApiError, LipsTransientError
from airflow_provider_lips.hooks.lips import LipsHook
from lips_sandbox import LipsSandbox
from tests.support import API_KEY, TOKEN, data_requests, lips_connection, pull_records

FAST_RETRIES = RetryPolicy(max_attempts=6, base_wait=0.01, max_wait=0.2, max_elapsed=20)
NOV = [("start_date", "2026-11-01"), ("end_date", "2026-11-30")]
PATH = CONTACT_INTERACTIONS.path


def test_sends_the_documented_headers_on_one_keep_alive_session(lips_conn: LipsSandbox) -> None:
    hook = LipsHook(per_page=100, concurrency=1)
    pages = list(hook.iter_pages(CONTACT_INTERACTIONS, [("global_master_advertiser_id", "USA_1"), *NOV]))
    assert len(pages) == pages[0].total_pages > 2
    for entry in data_requests(lips_conn):
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        assert headers["authorization"] == f"token {TOKEN}"
        assert headers["x-api-key"] == API_KEY
        assert headers["accept"] == "*/*"
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == f"airflow-provider-lips/{__version__}"
        assert headers.get("connection", "keep-alive").lower() == "keep-alive"


def test_api_key_is_left_out_when_not_configured(sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.configure(api_key=None)
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(sandbox.url, api_key=None))
    records = pull_records(LipsHook(), global_master_advertiser_id="USA_2")
    assert records
    assert all("x-api-key" not in {k.lower() for k in e["headers"]} for e in data_requests(sandbox))


def test_bracketed_names_and_plus_reach_the_server(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    contact = next(r["contact"] for r in interactions if r["event_type"] == "call" and r["global_master_advertiser_id"] == "USA_1")
    phone = contact["phone_numbers"][0]["phone_number"]
    assert phone.startswith("+")
    records = pull_records(LipsHook(), global_master_advertiser_id="USA_1", phone_numbers=phone, event_types=["call", "form"])
    wanted = {
        r["id"]
        for r in interactions
        if r["global_master_advertiser_id"] == "USA_1"
        and r["event_type"] in ("call", "form")
        and any(p["phone_number"] == phone for p in r["contact"]["phone_numbers"])
    }
    assert wanted and {r["id"] for r in records} == wanted
    first = data_requests(lips_conn)[0]
    # The server decodes the names to their bracketed form and reads the '+' as '+'.
    assert first["params"]["event_type[]"] == ["call", "form"]
    assert first["params"]["event_params[phone_numbers]"] == [phone]
    assert f"=%2B{phone[1:]}" in first["query"]


def test_retries_5xx_and_dropped_connections(lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture) -> None:
    lips_conn.configure(error_rate=0.3, drop_rate=0.1, fault_seed=3)
    hook = LipsHook(retry_policy=FAST_RETRIES)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"):
        ids = [r["id"] for r in pull_records(hook, global_master_advertiser_id="USA_1")]
    lips_conn.configure(error_rate=0.0, drop_rate=0.0)
    clean = [r["id"] for r in pull_records(LipsHook(), global_master_advertiser_id="USA_1")]
    assert ids == clean
    statuses = [e["status"] for e in data_requests(lips_conn)]
    assert any(s >= 500 for s in statuses)
    assert "retry 1/5" in caplog.text


def test_gives_up_after_the_attempt_budget(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(error_rate=1.0)
    hook = LipsHook(retry_policy=RetryPolicy(max_attempts=3, base_wait=0.01, max_wait=0.05))
    with pytest.raises(LipsTransientError, match=r"failed after 3 attempt\(s\).*last problem: HTTP 5\d\d"):
        hook.get_json(PATH, [("global_master_advertiser_id", "USA_1")])
    assert len(data_requests(lips_conn)) == 3


@pytest.mark.parametrize("status_setting", ["token", "forbidden"])
def test_auth_errors_fail_at_once_without_retry(lips_conn: LipsSandbox, status_setting: str) -> None:
    if status_setting == "token":
        lips_conn.configure(token="a-different-token")
        expected, hint = 401, "check the connection's API token"
    else:
        lips_conn.configure(forbidden_advertisers=["USA_1"])
        expected, hint = 403, "may not read this advertiser"
    with pytest.raises(LipsApiError) as raised:
        LipsHook(retry_policy=FAST_RETRIES).get_json(PATH, [("global_master_advertiser_id", "USA_1")])
    assert raised.value.status == expected
    assert hint in str(raised.value)
    assert "global_master_advertiser_id=USA_1" in str(raised.value)
    assert TOKEN not in str(raised.value) and API_KEY not in str(raised.value)
    assert len(data_requests(lips_conn)) == 1


def test_429_honours_retry_after_and_pauses(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(burst_429=[1], retry_after_format="seconds")
    started = datetime.now(timezone.utc)
    body = LipsHook(retry_policy=FAST_RETRIES.__class__(max_attempts=3, base_wait=0.01, max_wait=2.0)).get_json(
        PATH, [("global_master_advertiser_id", "USA_1")]
    )
    waited = (datetime.now(timezone.utc) - started).total_seconds()
    assert body["contact_interactions"]
    assert [e["status"] for e in data_requests(lips_conn)] == [429, 200]
    assert waited >= 0.9  # the sandbox says Retry-After: 1


def test_redirect_to_another_host_carries_no_secret(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY, host="127.0.0.2") as other:
        lips_conn.configure(redirect_to=other.url)
        with pytest.raises(LipsApiError) as raised:
            LipsHook().get_json(PATH, [("global_master_advertiser_id", "USA_1")])
        received = other.requests
    assert raised.value.status == 401  # the other host never saw the credentials
    assert received, "the redirect was followed"
    for entry in received:
        names = {k.lower() for k in entry["headers"]}
        assert "authorization" not in names and "x-api-key" not in names
        assert TOKEN not in str(entry) and API_KEY not in str(entry)


def test_test_connection(lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = LipsHook().test_connection()
    assert ok and "credentials accepted" in message
    lips_conn.configure(token="rotated")
    ok, message = LipsHook().test_connection()
    assert not ok and "401" in message and TOKEN not in message
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection("http://127.0.0.1:9"))
    ok, message = LipsHook().test_connection()
    assert not ok and "Could not reach http://127.0.0.1:9" in message


def test_secrets_are_registered_with_the_masker(lips_conn: LipsSandbox) -> None:
    from airflow.sdk.log import redact

    assert LipsHook().settings.token == TOKEN
    assert redact(f"token {TOKEN} key {API_KEY}") == "token *** key ***"
