"""The connection's port counts wherever a user can set it: the form, the URI form, JSON; errors name host and port."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from airflow_provider_lips.exceptions import LipsTransientError
from airflow_provider_lips.hooks.lips import LipsHook
from lips_sandbox import LipsSandbox
from tests.support import API_KEY, TOKEN, data_requests, free_port, pull_records


def use(monkeypatch: pytest.MonkeyPatch, connection: str) -> LipsHook:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", connection)
    return LipsHook()


def forms(port: int) -> dict[str, str]:
    """One connection, written each way Airflow accepts, every one naming the port outside the host."""
    return {
        "uri-with-http-schema": f"lips://:{quote(TOKEN)}@127.0.0.1:{port}/http?api_key={quote(API_KEY)}",
        "json-bare-host-and-schema": json.dumps(
            {"conn_type": "lips", "host": "127.0.0.1", "port": port, "schema": "http", "password": TOKEN, "extra": {"api_key": API_KEY}}
        ),
        "json-url-host-and-port": json.dumps(
            {"conn_type": "lips", "host": "http://127.0.0.1", "port": port, "password": TOKEN, "extra": {"api_key": API_KEY}}
        ),
        "json-url-with-the-same-port": json.dumps(
            {"conn_type": "lips", "host": f"http://127.0.0.1:{port}", "port": port, "password": TOKEN, "extra": {"api_key": API_KEY}}
        ),
    }


@pytest.mark.parametrize(
    "form", ["uri-with-http-schema", "json-bare-host-and-schema", "json-url-host-and-port", "json-url-with-the-same-port"]
)
def test_the_port_field_reaches_the_wire(form: str, sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    hook = use(monkeypatch, forms(port)[form])
    assert hook.settings.base_url == f"http://127.0.0.1:{port}"
    assert hook.test_connection() == (True, f"Connected to http://127.0.0.1:{port}: credentials accepted.")
    assert pull_records(hook, global_master_advertiser_id="USA_1")
    assert data_requests(sandbox)


def test_a_uri_without_schema_means_https_and_the_error_names_host_and_port(
    sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    hook = use(monkeypatch, f"lips://:{quote(TOKEN)}@127.0.0.1:{port}")
    assert hook.settings.base_url == f"https://127.0.0.1:{port}"
    ok, message = hook.test_connection()  # the sandbox speaks plain http: the TLS handshake fails
    assert not ok and message.startswith(f"Could not reach https://127.0.0.1:{port}: the TLS handshake with 127.0.0.1:{port}")
    assert TOKEN not in message


def test_retries_against_a_closed_port_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    hook = use(
        monkeypatch,
        json.dumps({"conn_type": "lips", "host": "127.0.0.1", "port": port, "schema": "http", "password": TOKEN,
                    "extra": {"max_attempts": 2, "retry_base_wait": 0.01, "retry_max_wait": 0.01}}),
    )
    with pytest.raises(LipsTransientError, match=rf"to http://127\.0\.0\.1:{port} failed after 2 attempt\(s\).*ConnectionError"):
        pull_records(hook, global_master_advertiser_id="USA_1")
    ok, message = hook.test_connection()
    assert not ok and f"Could not reach http://127.0.0.1:{port}: ConnectionError" in message
