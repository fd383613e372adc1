"""The token authenticator: the documented headers, only ever for the connection's own origin."""

from __future__ import annotations

import json

import pytest
import requests

from airflow.sdk import Connection
from airflow_provider_lips.client.auth import TokenAuth
from airflow_provider_lips.client.requester import Requester
from airflow_provider_lips.client.settings import parse_settings
from tests.support import API_KEY, TOKEN


def requester(base_url: str = "https://lips.example.com:8443", **extra: str) -> Requester:
    conn = Connection(conn_id="lips_test", conn_type="lips", host=base_url, password=TOKEN, extra=json.dumps(extra))
    settings = parse_settings(conn, "lips_test")
    return Requester(settings, TokenAuth(settings))


def prepared(client: Requester, url: str) -> requests.PreparedRequest:
    return client.session.prepare_request(requests.Request("GET", url))


def test_token_and_api_key_go_to_the_connection_origin() -> None:
    client = requester(api_key=API_KEY)
    headers = prepared(client, "https://lips.example.com:8443/contact_interactions?page=1").headers
    assert headers["Authorization"] == f"token {TOKEN}"
    assert headers["x-api-key"] == API_KEY


def test_no_api_key_header_without_a_key() -> None:
    headers = prepared(requester(), "https://lips.example.com:8443/contact_interactions").headers
    assert headers["Authorization"] == f"token {TOKEN}" and "x-api-key" not in headers


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example.com:8443/contact_interactions",  # another host
        "https://lips.example.com/contact_interactions",  # another port
        "http://lips.example.com:8443/contact_interactions",  # another scheme
        "https://lips.example.com.evil.test:8443/contact_interactions",  # a look-alike host
    ],
)
def test_no_credentials_for_any_other_origin(url: str) -> None:
    headers = prepared(requester(api_key=API_KEY), url).headers
    assert "Authorization" not in headers and "x-api-key" not in headers


def test_secrets_are_redacted_from_messages() -> None:
    client = requester(api_key=API_KEY)
    assert client.redact(f"echo {TOKEN} and {API_KEY}") == "echo *** and ***"
    assert client.auth.refresh(requests.Response()) is False  # a static token cannot be refreshed: a 401 fails at once
