"""OAuth2 connections against the sandbox's token endpoint, over real HTTP: grants, renewal, errors, secrets."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.client.oauth2 import OAuth2Auth
from airflow_provider_lips.exceptions import LipsApiError, LipsTransientError, LipsValidationError
from airflow_provider_lips.hooks.lips import LipsHook
from lips_sandbox import LipsSandbox
from tests.support import OAUTH, WEEK, expected_ids, free_port, lips_oauth_connection, oauth_sandbox_settings, pull, run

SECRETS = (OAUTH["client_secret"], OAUTH["password"])


@pytest.fixture
def oauth_conn(sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> LipsSandbox:
    """``lips_default`` as an OAuth2 connection to the sandbox, OAuth2 switched on there."""
    sandbox.configure(**oauth_sandbox_settings())
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(sandbox.url, requests_per_second=500, retry_base_wait=0.02))
    return sandbox


def pull_week(**kwargs: Any) -> list[dict[str, Any]]:
    """USA_1's interactions of :data:`WEEK` through the operator, to XCom."""
    return run(pull(**kwargs), *WEEK)


def grants(sandbox: LipsSandbox) -> list[tuple[str | None, int]]:
    return [(e["grant_type"], e["status"]) for e in sandbox.requests if e["path"] == "/oauth/token"]


def api_requests(sandbox: LipsSandbox) -> list[dict[str, Any]]:
    return [e for e in sandbox.requests if e["path"] != "/oauth/token"]


def test_one_password_grant_then_the_bearer_on_every_api_request(oauth_conn: LipsSandbox, interactions: list[dict]) -> None:
    oauth_conn.configure(max_per_page=10)
    records = pull_week()
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    assert grants(oauth_conn) == [("password", 200)]
    calls = api_requests(oauth_conn)
    assert len(calls) > 10 and all(e["status"] == 200 for e in calls)
    bearers = {e["headers"]["Authorization"] for e in calls}
    assert len(bearers) == 1 and next(iter(bearers)).startswith("Bearer ")
    assert not any("x-api-key" in {h.lower() for h in e["headers"]} for e in calls)
    assert not any(secret in repr(oauth_conn.requests) for secret in SECRETS)


def test_tokens_expiring_mid_pull_are_renewed_once_for_all_threads(oauth_conn: LipsSandbox, interactions: list[dict]) -> None:
    """Every access token is revoked after page 1; twelve threads then meet 401s, and one refresh cures them all."""
    oauth_conn.configure(max_per_page=5, latency_ms=20)
    hook = LipsHook(concurrency=12)
    params = [("global_master_advertiser_id", "USA_1"), ("start_date", "2026-11-10"), ("end_date", "2026-11-16")]
    seen: list[int] = []
    try:
        for page in hook.iter_pages(CONTACT_INTERACTIONS, params):
            if page.number == 1:
                assert oauth_conn.expire_tokens() == 1
            seen += [record["id"] for record in page.records]
    finally:
        hook.close()
    assert sorted(seen) == sorted(oauth_conn.truth(**dict(params)))
    assert grants(oauth_conn) == [("password", 200), ("refresh_token", 200)]
    statuses = [e["status"] for e in api_requests(oauth_conn)]
    assert statuses.count(401) >= 1 and statuses.count(200) == len(seen) // 5 + (len(seen) % 5 > 0)


def test_proactive_renewal_before_expires_in(oauth_conn: LipsSandbox, interactions: list[dict]) -> None:
    """A short lifetime: the client renews shortly before expiry, and the pull is still exact."""
    oauth_conn.configure(oauth_access_token_seconds=1, max_per_page=5, latency_ms=60)
    records = pull_week(concurrency=2)
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    kinds = [grant for grant, _ in grants(oauth_conn)]
    assert kinds[0] == "password" and kinds.count("refresh_token") >= 2 and kinds.count("password") == 1


def test_a_used_up_refresh_token_is_answered_by_a_fresh_password_grant(oauth_conn: LipsSandbox) -> None:
    """The server no longer takes the refresh token (spent, revoked or expired: all answer invalid_grant)."""
    oauth_conn.configure(oauth_refresh_token_seconds=0.05)
    hook = LipsHook()
    try:
        first = hook.get_json("/contact_interactions/totals", [("global_master_advertiser_id", "USA_1")])
        time.sleep(0.1)
        oauth_conn.expire_tokens()
        second = hook.get_json("/contact_interactions/totals", [("global_master_advertiser_id", "USA_1")])
    finally:
        hook.close()
    assert first == second
    assert grants(oauth_conn) == [("password", 200), ("refresh_token", 400), ("password", 200)]
    assert [e["status"] for e in api_requests(oauth_conn)] == [200, 401, 200]
    bearers = [e["headers"]["Authorization"] for e in api_requests(oauth_conn)]
    assert bearers[0] == bearers[1] != bearers[2]


@pytest.mark.parametrize(
    ("wrong", "names", "status"),
    [
        ({"client_id": "someone-else"}, "'client_id' and 'client_secret'", 401),
        ({"client_secret": "csecret-WRONG-1d9e"}, "'client_id' and 'client_secret'", 401),
        ({"password": "pw-WRONG-77a0"}, "login and password", 400),
        ({"login": "intruder@example.com"}, "login and password", 400),
    ],
)
def test_rejected_credentials_fail_at_once_before_any_api_request(
    oauth_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, wrong: dict[str, str], names: str, status: int
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, **wrong))
    from airflow_provider_lips.exceptions import AirflowFailException  # airflow.sdk.exceptions on 3.2+, core on 3.1

    with pytest.raises(LipsApiError) as caught:
        pull_week()
    message = str(caught.value)
    assert isinstance(caught.value, AirflowFailException)  # Airflow's retries are not spent on it
    assert names in message and str(status) in message
    for secret in (*SECRETS, *wrong.values()):
        if secret not in (OAUTH["client_id"], "someone-else", "intruder@example.com"):
            assert secret not in message
    assert api_requests(oauth_conn) == [] and len(grants(oauth_conn)) == 1


def test_a_failing_token_endpoint_is_retried_like_any_transient_error(
    oauth_conn: LipsSandbox, interactions: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth_conn.configure(token_errors=[1, 2])
    records = pull_week()
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    assert [status for _, status in grants(oauth_conn)] == [503, 503, 200]

    oauth_conn.configure(token_errors=1.0)
    oauth_conn.reset_log()
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, retry_base_wait=0.02))
    with pytest.raises(LipsTransientError, match=r"POST .*/oauth/token \(password grant\) .*failed after 6 attempt"):
        pull_week()
    assert api_requests(oauth_conn) == [] and len(grants(oauth_conn)) == 6


def test_an_unreachable_token_endpoint_is_transient(oauth_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}/oauth/token"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, token_url=url, max_attempts=2, retry_base_wait=0.01)
    )
    with pytest.raises(LipsTransientError, match="ConnectionError") as caught:
        pull_week()
    assert not any(secret in str(caught.value) for secret in SECRETS)
    assert oauth_conn.requests == []


@pytest.mark.parametrize("missing", ["client_id", "client_secret", "login", "password"])
def test_a_missing_oauth_field_fails_validation_naming_it(
    oauth_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, **{missing: None}))
    with pytest.raises(LipsValidationError, match=f"'{missing}'"):
        pull_week()
    assert oauth_conn.requests == []


def test_an_insecure_token_url_is_refused(oauth_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, token_url="http://tokens.example.com/oauth/token")
    )
    with pytest.raises(LipsValidationError, match="token_url"):
        pull_week()


def test_the_bearer_token_does_not_follow_a_redirect_to_another_host(oauth_conn: LipsSandbox, interactions: list[dict]) -> None:
    with LipsSandbox(interactions, host="127.0.0.2") as other:
        oauth_conn.configure(redirect_to=other.url)
        with pytest.raises(LipsApiError, match="401"):
            pull_week()
        received = other.requests
    assert received and all("authorization" not in {h.lower() for h in e["headers"]} for e in received)


def test_nothing_secret_is_logged_even_at_debug(oauth_conn: LipsSandbox, caplog: pytest.LogCaptureFixture) -> None:
    oauth_conn.configure(oauth_access_token_seconds=1, max_per_page=10, latency_ms=80)
    caplog.set_level(logging.DEBUG)
    pull_week(concurrency=2)
    issued = oauth_conn.issued_tokens
    assert len(issued) >= 4  # a password grant and at least one refresh: two access and two refresh tokens
    for secret in (*SECRETS, *issued):
        assert secret not in caplog.text


def test_the_test_button_works_for_both_auth_types(oauth_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = LipsHook().test_connection()
    assert ok, message
    assert grants(oauth_conn) == [("password", 200)] and api_requests(oauth_conn)[0]["status"] == 422

    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_oauth_connection(oauth_conn.url, client_secret="csecret-WRONG-1d9e"))
    ok, message = LipsHook().test_connection()
    assert not ok and "'client_id' and 'client_secret'" in message and "csecret-WRONG-1d9e" not in message

    from tests.support import lips_connection

    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(oauth_conn.url))
    ok, message = LipsHook().test_connection()
    assert ok, message


def test_renewal_is_thread_safe(oauth_conn: LipsSandbox) -> None:
    """Eight threads asking at once for a token that is due cause one renewal, and all get the same token."""
    oauth_conn.configure(oauth_access_token_seconds=1)
    hook = LipsHook()
    try:
        auth = hook.requester.auth
        assert isinstance(auth, OAuth2Auth)
        first = auth.access_token()
        # The renewed token lives a minute, so a thread scheduled late on a loaded machine still finds it fresh.
        oauth_conn.configure(oauth_access_token_seconds=60)
        time.sleep(1.0)  # the first token's renewal is due a tenth of its lifetime before expiry
        tokens: list[str] = []
        barrier = threading.Barrier(8)

        def ask() -> None:
            barrier.wait()
            tokens.append(auth.access_token())

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        hook.close()
    assert len(tokens) == 8 and len(set(tokens)) == 1 and first not in tokens
    assert grants(oauth_conn) == [("password", 200), ("refresh_token", 200)]


def test_the_rate_budget_belongs_to_the_oauth2_client_and_user_not_the_token(oauth_conn: LipsSandbox) -> None:
    from airflow.sdk import Connection
    from airflow_provider_lips.client.settings import parse_settings

    def credentials(**fields: object) -> str:
        conn = Connection.from_json(lips_oauth_connection(oauth_conn.url, **fields), conn_id="c")
        return parse_settings(conn, "c").credentials

    same = credentials()
    assert credentials(password="another-password") == same  # the user changed their password
    assert credentials(login="someone@example.com") != same and credentials(client_id="other-client") != same
    assert OAUTH["password"] not in same and OAUTH["client_secret"] not in same
