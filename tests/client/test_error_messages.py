"""Errors a user is likely to meet first name the fix: a host without a scheme in front of a plain-HTTP server."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_lips.exceptions import AirflowFailException, LipsTlsError
from airflow_provider_lips.hooks.lips import LipsHook
from lips_sandbox import LipsSandbox
from tests.support import TOKEN, pull_records


def schemeless(sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> tuple[LipsHook, int]:
    """``lips_default`` with host ``127.0.0.1`` and the sandbox's port: no scheme, so https is assumed."""
    port = int(sandbox.url.rsplit(":", 1)[1])
    connection = {"conn_type": "lips", "host": "127.0.0.1", "port": port, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", json.dumps(connection))
    return LipsHook(), port


def test_tls_to_a_plain_http_server_fails_at_once_and_suggests_http(
    sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook, port = schemeless(sandbox, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"), pytest.raises(LipsTlsError) as raised:
        pull_records(hook, global_master_advertiser_id="USA_1")
    message = str(raised.value)
    assert f"the TLS handshake with 127.0.0.1:{port} failed" in message
    assert "answered the TLS hello in plain HTTP" in message
    assert f"write the connection's host with the scheme: 'http://127.0.0.1:{port}'" in message
    assert "Not retried" in message
    assert isinstance(raised.value, AirflowFailException)  # Airflow spends no task retry on it either
    assert "retry" not in caplog.text  # one attempt: no backoff between tries
    assert TOKEN not in message


def test_the_test_button_names_the_fix_too(sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    hook, port = schemeless(sandbox, monkeypatch)
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith(f"Could not reach https://127.0.0.1:{port}: the TLS handshake with 127.0.0.1:{port} failed")
    assert f"'http://127.0.0.1:{port}'" in message
    assert TOKEN not in message
