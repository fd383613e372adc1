"""The sandbox's OAuth2 token endpoint over real HTTP: grants, rotation, expiry, errors and faults."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from lips_sandbox import LipsSandbox
from lips_sandbox.process import SandboxProcess
from tests.sandbox.sandbox_support import SANDBOX_TOKEN

Serve = Callable[..., LipsSandbox]
ALL = {"global_master_advertiser_id": "USA_1"}
CLIENT = {"client_id": "cid-42", "client_secret": "csecret-9f1"}
USER = {"username": "ops@example.com", "password": "pw-7c3e"}
OAUTH = {
    "oauth_client_id": CLIENT["client_id"],
    "oauth_client_secret": CLIENT["client_secret"],
    "oauth_username": USER["username"],
    "oauth_password": USER["password"],
}


def password_grant(url: str, **overrides: str) -> requests.Response:
    return requests.post(f"{url}/oauth/token", json={"grant_type": "password", **CLIENT, **USER, **overrides}, timeout=30)


def refresh_grant(url: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{url}/oauth/token", json={"grant_type": "refresh_token", **CLIENT, "refresh_token": refresh_token}, timeout=30
    )


def bearer_get(url: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{url}/contact_interactions", params=ALL, headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )


def test_password_grant_answers_the_documented_shape_and_the_api_takes_the_bearer(serve: Serve) -> None:
    sandbox = serve(**OAUTH)
    before = int(time.time())
    answer = password_grant(sandbox.url)
    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "created_at"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert before <= body["created_at"] <= int(time.time()) + 1
    assert bearer_get(sandbox.url, body["access_token"]).status_code == 200
    assert bearer_get(sandbox.url, "not-a-token").status_code == 401
    # The token scheme keeps working beside OAuth2.
    token_auth = {"Authorization": f"token {SANDBOX_TOKEN}"}
    assert requests.get(f"{sandbox.url}/contact_interactions", params=ALL, headers=token_auth, timeout=30).status_code == 200


def test_a_form_encoded_body_works_too(serve: Serve) -> None:
    sandbox = serve(**OAUTH)
    answer = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "password", **CLIENT, **USER}, timeout=30)
    assert answer.status_code == 200 and bearer_get(sandbox.url, answer.json()["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"password": "wrong"}, 400, "invalid_grant"),
        ({"username": "nobody@example.com"}, 400, "invalid_grant"),
        ({"username": ""}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
    ],
)
def test_wrong_credentials_get_the_oauth_errors(serve: Serve, overrides: dict[str, str], status: int, error: str) -> None:
    sandbox = serve(**OAUTH)
    answer = password_grant(sandbox.url, **overrides)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert answer.json()["error_description"]
    assert "access_token" not in answer.json()


def test_without_oauth_configured_the_token_endpoint_refuses_and_bearer_is_401(serve: Serve) -> None:
    sandbox = serve()
    assert password_grant(sandbox.url).status_code == 401
    assert bearer_get(sandbox.url, SANDBOX_TOKEN).status_code == 401


def test_refresh_tokens_are_single_use_and_rotate(serve: Serve) -> None:
    sandbox = serve(**OAUTH)
    first = password_grant(sandbox.url).json()
    second = refresh_grant(sandbox.url, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert bearer_get(sandbox.url, rotated["access_token"]).status_code == 200
    # Refreshing revoked the access token it replaced.
    assert bearer_get(sandbox.url, first["access_token"]).status_code == 401
    assert sandbox.issued_tokens == [first["access_token"], first["refresh_token"], rotated["access_token"], rotated["refresh_token"]]
    reused = refresh_grant(sandbox.url, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert refresh_grant(sandbox.url, rotated["refresh_token"]).status_code == 200
    # A refresh needs the right client as well.
    third = password_grant(sandbox.url).json()
    wrong_client = requests.post(
        f"{sandbox.url}/oauth/token",
        json={"grant_type": "refresh_token", **CLIENT, "client_secret": "x", "refresh_token": third["refresh_token"]}, timeout=30
    )
    assert wrong_client.json()["error"] == "invalid_client"


def test_access_tokens_expire_after_their_lifetime_and_refresh_tokens_revive_them(serve: Serve) -> None:
    sandbox = serve(**OAUTH, oauth_access_token_seconds=0.4)
    grant = password_grant(sandbox.url).json()
    assert grant["expires_in"] == 1  # whole seconds, as the vendor sends, never 0
    assert bearer_get(sandbox.url, grant["access_token"]).status_code == 200
    time.sleep(0.5)
    expired = bearer_get(sandbox.url, grant["access_token"])
    assert expired.status_code == 401 and expired.json() == {"error": "invalid_token", "message": "The access token expired"}
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    renewed = refresh_grant(sandbox.url, grant["refresh_token"]).json()
    assert bearer_get(sandbox.url, renewed["access_token"]).status_code == 200


def test_refresh_tokens_can_expire_too(serve: Serve) -> None:
    sandbox = serve(**OAUTH, oauth_refresh_token_seconds=0.2)
    grant = password_grant(sandbox.url).json()
    time.sleep(0.3)
    assert refresh_grant(sandbox.url, grant["refresh_token"]).json()["error"] == "invalid_grant"


def test_expire_tokens_control_ends_every_access_token_at_once(serve: Serve) -> None:
    sandbox = serve(**OAUTH)
    grants = [password_grant(sandbox.url).json() for _ in range(2)]
    assert requests.post(f"{sandbox.url}/_sandbox/expire-tokens", timeout=30).json() == {"expired": 2}
    assert [bearer_get(sandbox.url, g["access_token"]).status_code for g in grants] == [401, 401]
    assert refresh_grant(sandbox.url, grants[0]["refresh_token"]).status_code == 200
    assert sandbox.expire_tokens() == 1


def test_token_endpoint_faults_are_its_own(serve: Serve) -> None:
    sandbox = serve(**OAUTH, token_errors=[1, 2], token_latency_ms=150)
    started = time.monotonic()
    statuses = [password_grant(sandbox.url).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert time.monotonic() - started >= 3 * 0.15
    # The API itself is not affected, and token requests do not consume its fault sequence.
    token_auth = {"Authorization": f"token {SANDBOX_TOKEN}"}
    assert requests.get(f"{sandbox.url}/contact_interactions", params=ALL, headers=token_auth, timeout=30).status_code == 200
    sandbox.reset_log()
    assert password_grant(sandbox.url).status_code == 503  # the ordinals restart with the log
    sandbox.configure(token_errors=0.0, token_latency_ms=0)
    assert password_grant(sandbox.url).status_code == 200


def test_the_request_log_names_the_grant_but_holds_no_secret(serve: Serve) -> None:
    sandbox = serve(**OAUTH)
    grant = password_grant(sandbox.url).json()
    refresh_grant(sandbox.url, grant["refresh_token"])
    password_grant(sandbox.url, password="wrong")
    log = sandbox.requests
    assert [(e["method"], e["path"], e["grant_type"], e["status"]) for e in log] == [
        ("POST", "/oauth/token", "password", 200),
        ("POST", "/oauth/token", "refresh_token", 200),
        ("POST", "/oauth/token", "password", 400),
    ]
    text = repr(log)
    for secret in (CLIENT["client_secret"], USER["password"], grant["refresh_token"], grant["access_token"]):
        assert secret not in text
    assert requests.get(f"{sandbox.url}/oauth/token", timeout=30).status_code == 405


@pytest.mark.integration  # the sandbox CLI as a process
def test_cli_flags_turn_oauth_on() -> None:
    sandbox = SandboxProcess(
        interactions=50,
        oauth_client_id=CLIENT["client_id"],
        oauth_client_secret=CLIENT["client_secret"],
        oauth_username=USER["username"],
        oauth_password=USER["password"],
        access_token_seconds=60,
        token_errors=1,
    )
    with sandbox:
        url = sandbox.url
        assert password_grant(url).status_code == 503
        grant = password_grant(url).json()
        assert grant["expires_in"] == 60 and bearer_get(url, grant["access_token"]).status_code == 200
        assert sandbox.stop() == 0
