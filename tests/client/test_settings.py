"""Connection settings: one precedence rule (argument > extra > default) and validation before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow.sdk import Connection
from airflow_provider_lips.client.defaults import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_PAGE,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REQUESTS_PER_SECOND,
)
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


# -- every field of the connection table: parsed from its usual spellings, or refused naming it --------------

# field -> (a good value as a form or URI delivers it, the setting it gives, a bad value, what the refusal says).
# Numbers arrive as text from a URI query or an old form; strings that are not numbers are refused.
_NUMBER = "must be a positive number"
_INTEGER = "must be a positive integer"
FIELDS: dict[str, tuple[Any, Any, Any, str]] = {
    "request_timeout": (" 7.5 ", 7.5, "soon", _NUMBER),
    "requests_per_second": ("3", 3.0, "inf", _NUMBER),
    "per_page": ("50", 50, "50.5", _INTEGER),
    "concurrency": ("4.0", 4, "true", _INTEGER),
    "max_attempts": (2, 2, "-1", _INTEGER),
    "retry_base_wait": ("0.25", 0.25, "nan", _NUMBER),
    "retry_max_wait": ("1e1", 10.0, True, _NUMBER),
    "max_bytes_in_flight": ("1048576", 1048576, "64MB", _INTEGER),
    "max_response_bytes": ("8388608", 8388608, "0", _INTEGER),
    "response_deadline": ("45", 45.0, "-3", _NUMBER),
    "allow_insecure_http": ("yes", True, "maybe", "must be true or false (also 1/0, yes/no, on/off)"),
    "auth_type": ("oauth2", "oauth2", "basic", "extra 'auth_type' must be one of"),
    "api_key": (API_KEY, API_KEY, 123, "extra 'api_key' must be a string"),
    "rate_limit_redis_conn_id": (" redis_lips ", "redis_lips", 7, "extra 'rate_limit_redis_conn_id' must be the id"),
    "client_id": ("cid", "cid", 5, "has no 'client_id'"),
    "client_secret": ("secret-x", "secret-x", "", "has no 'client_secret'"),
    "token_url": ("https://auth.example.com/oauth/token", "https://auth.example.com/oauth/token", "ftp://x",
                  "extra 'token_url' must be an http(s) URL"),
}
_OAUTH = {"auth_type": "oauth2", "client_id": "cid", "client_secret": "secret-x", "token_url": "https://auth.example.com/t"}
_OAUTH_FIELDS = {"client_id", "client_secret", "token_url"}


def _settings_for(key: str, value: Any) -> Any:
    extra = {**_OAUTH, key: value} if key in _OAUTH_FIELDS or key == "auth_type" else {key: value}
    fields = {"login": "ops@example.com"} if extra.get("auth_type") == "oauth2" else {}
    host = "http://lips.example.com" if key == "allow_insecure_http" else "https://lips.example.com"
    return parse_settings(connection(extra, host=host, **fields), "lips_test")


def test_the_table_covers_every_field_of_the_connection_form() -> None:
    from airflow_provider_lips.provider_info import get_provider_info

    assert set(FIELDS) == set(get_provider_info()["connection-types"][0]["conn-fields"])


@pytest.mark.parametrize("key", FIELDS)
def test_each_field_is_parsed_from_its_usual_spelling(key: str) -> None:
    good, expected, _, _ = FIELDS[key]
    settings = _settings_for(key, good)
    if key in _OAUTH_FIELDS:
        assert settings.extra[key] == good
    elif key == "allow_insecure_http":
        assert settings.base_url == "http://lips.example.com"
    else:
        assert getattr(settings, key) == expected


@pytest.mark.parametrize("key", FIELDS)
def test_each_field_refuses_what_it_cannot_read_naming_the_field(key: str) -> None:
    _, _, bad, message = FIELDS[key]
    with pytest.raises(LipsValidationError) as raised:
        _settings_for(key, bad)
    assert message in str(raised.value) and key in str(raised.value)


@pytest.mark.parametrize("word", ["false", "False", "0", "no", "off", " OFF ", 0, False, "", None])
def test_a_false_spelling_refuses_plain_http_to_a_remote_host(word: Any) -> None:
    with pytest.raises(LipsValidationError, match=r"uses plain http to lips\.example\.com"):
        _settings_for("allow_insecure_http", word)


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "on", 1, True])
def test_a_true_spelling_permits_it(word: Any) -> None:
    assert _settings_for("allow_insecure_http", word).base_url == "http://lips.example.com"


@pytest.mark.parametrize("word", ["false", "no", "0"])
def test_a_false_spelling_also_guards_the_oauth2_token_url(word: Any) -> None:
    extra = {**_OAUTH, "token_url": "http://auth.example.com/oauth/token", "allow_insecure_http": word}
    with pytest.raises(LipsValidationError, match=r"extra .token_url. uses plain http to auth\.example\.com"):
        parse_settings(connection(extra, login="ops@example.com"), "lips_test")


def test_the_answer_deadline_defaults_to_three_request_timeouts() -> None:
    assert parse_settings(connection({"request_timeout": "10"}), "lips_test").response_deadline == 30.0
    assert parse_settings(connection(), "lips_test").max_response_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize(("key", "text", "expected"), [("per_page", "25", 25), ("concurrency", " 3 ", 3)])
def test_operator_arguments_as_text_are_read_too(key: str, text: str, expected: int) -> None:
    assert getattr(parse_settings(connection(), "lips_test", **{key: text}), key) == expected
