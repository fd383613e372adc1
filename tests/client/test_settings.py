"""Connection settings: one precedence rule (argument > extra > default) and validation before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow.sdk import Connection
from airflow_provider_lips import DEFAULT_CONCURRENCY, DEFAULT_PER_PAGE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_REQUESTS_PER_SECOND
from airflow_provider_lips.client.retry import RetryPolicy
from airflow_provider_lips.client.settings import parse_settings
from airflow_provider_lips.exceptions import LipsValidationError
from tests.support import API_KEY, TOKEN

# Every tunable setting with a value that differs from its default, as the extra would hold it.
TUNABLE: dict[str, Any] = {
    "request_timeout": 7.5,
    "requests_per_second": 3.0,
    "per_page": 7,
    "concurrency": 2,
    "max_attempts": 2,
    "retry_base_wait": 0.25,
    "retry_max_wait": 4.0,
}
DEFAULTS: dict[str, Any] = {
    "request_timeout": DEFAULT_REQUEST_TIMEOUT,
    "requests_per_second": DEFAULT_REQUESTS_PER_SECOND,
    "per_page": DEFAULT_PER_PAGE,
    "concurrency": DEFAULT_CONCURRENCY,
    "max_attempts": RetryPolicy.max_attempts,
    "retry_base_wait": RetryPolicy.base_wait,
    "retry_max_wait": RetryPolicy.max_wait,
}


def connection(extra: dict[str, Any] | None = None, **fields: Any) -> Connection:
    fields.setdefault("host", "https://lips.example.com")
    fields.setdefault("password", TOKEN)
    return Connection(conn_id="lips_test", conn_type="lips", extra=json.dumps(extra or {}), **fields)


@pytest.mark.parametrize("key", TUNABLE)
def test_every_setting_resolves_argument_then_extra_then_default(key: str) -> None:
    value, default = TUNABLE[key], DEFAULTS[key]
    argument = value * 2 if key != "per_page" else 9
    assert getattr(parse_settings(connection(), "lips_test"), key) == default
    assert getattr(parse_settings(connection({key: value}), "lips_test"), key) == value
    assert getattr(parse_settings(connection({key: value}), "lips_test", **{key: argument}), key) == argument
    assert getattr(parse_settings(connection(), "lips_test", **{key: argument}), key) == argument
    # None means "not given": the extra applies, as for an operator argument left unset.
    assert getattr(parse_settings(connection({key: value}), "lips_test", **{key: None}), key) == value


def test_an_empty_extra_value_is_unset() -> None:
    settings = parse_settings(connection({"per_page": "", "concurrency": None}), "lips_test")
    assert (settings.per_page, settings.concurrency) == (DEFAULT_PER_PAGE, DEFAULT_CONCURRENCY)


def test_the_retry_policy_is_built_from_the_resolved_settings() -> None:
    settings = parse_settings(connection({"max_attempts": 2, "retry_base_wait": 0.25}), "lips_test", retry_max_wait=4.0)
    assert settings.retry_policy == RetryPolicy(max_attempts=2, base_wait=0.25, max_wait=4.0)


def test_secrets_stay_out_of_repr_and_the_default_auth_is_token() -> None:
    settings = parse_settings(connection({"api_key": API_KEY}), "lips_test")
    assert settings.auth_type == "token"
    assert (settings.token, settings.api_key) == (TOKEN, API_KEY)
    assert TOKEN not in repr(settings) and API_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "fields", "message"),
    [
        ({"per_page": 5000}, {}, "extra 'per_page' must be at most 1000"),
        ({"per_page": 2.5}, {}, "extra 'per_page' must be a positive integer, got 2.5"),
        ({"concurrency": 0}, {}, "extra 'concurrency' must be a positive integer, got 0"),
        ({"requests_per_second": "fast"}, {}, "extra 'requests_per_second' must be a positive number, got 'fast'"),
        ({"request_timeout": True}, {}, "extra 'request_timeout' must be a positive number, got True"),
        ({"auth_type": "basic"}, {}, "extra 'auth_type' must be one of"),
        ({"api_key": 123}, {}, "extra 'api_key' must be a string, got int"),
        ({}, {"password": None}, "has no API token: put the token LIPS issued you in the connection's password field"),
        ({}, {"host": None}, "has no host: set it to the LIPS base URL"),
        ({}, {"host": "http://lips.example.com"}, "uses plain http to lips.example.com"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(extra: dict[str, Any], fields: dict[str, Any], message: str) -> None:
    with pytest.raises(LipsValidationError) as raised:
        parse_settings(connection(extra, **fields), "lips_test")
    assert message in str(raised.value)
    assert "'lips_test'" in str(raised.value)
