"""A LIPS connection's settings, parsed and validated in one place.

Every tunable setting resolves by one rule: the operator's argument when given (not
``None``), else the connection's extra, else the package default. Secrets are registered
with Airflow's masker the moment they are read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk.log import mask_secret
from airflow_provider_lips.client.defaults import (
    AUTH_TYPES,
    DEFAULT_AUTH_TYPE,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PER_PAGE,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TOKEN_URL,
    MAX_PER_PAGE,
    RESPONSE_DEADLINE_TIMEOUTS,
)
from airflow_provider_lips.client.retry import RetryPolicy
from airflow_provider_lips.client.values import parse_flag, parse_number
from airflow_provider_lips.exceptions import LipsValidationError

_EXAMPLE_URL = "https://data-connect-lips.ganettdigital.com"


@dataclass(frozen=True)
class LipsClientSettings:
    """What a LIPS connection (and the operator's arguments) configure, validated.

    Secrets stay out of ``repr``. ``extra`` is the connection's whole extra, read-only, for
    authenticators that need more fields than the token one does.
    """

    conn_id: str
    base_url: str
    token: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    auth_type: str = DEFAULT_AUTH_TYPE
    login: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    per_page: int = DEFAULT_PER_PAGE
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = RetryPolicy.max_attempts
    retry_base_wait: float = RetryPolicy.base_wait
    retry_max_wait: float = RetryPolicy.max_wait
    rate_limit_redis_conn_id: str | None = None  # None: the machine-local rate budget
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # one answer's body at most (client/bounds.py)
    response_deadline: float = RESPONSE_DEADLINE_TIMEOUTS * DEFAULT_REQUEST_TIMEOUT  # one answer, headers and body

    @property
    def credentials(self) -> str:
        """Who the vendor counts requests against: the token, or the OAuth2 client and user (not their
        short-lived access tokens). The shared rate budget is keyed by a hash of this."""
        if self.auth_type == "oauth2":
            return f"oauth2\n{self.extra.get('client_id')}\n{self.login}"
        return self.token

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base_wait=self.retry_base_wait, max_wait=self.retry_max_wait)


def resolve(argument: Any, extra: Mapping[str, Any], key: str) -> Any:
    """The one precedence rule: operator argument, else connection extra; ``None`` when neither is set.

    An empty string in the extra counts as unset (the connection form saves cleared fields so).
    """
    if argument is not None:
        return argument
    value = extra.get(key)
    return None if value == "" else value


def _positive(value: Any, key: str, default: float, conn_id: str, kind: type = float) -> Any:
    if value is None:
        return kind(default)
    number = parse_number(value, integer=kind is int)  # "30" from a form or URI is 30; True is no number
    if number is None or number <= 0:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra '{key}' must be a positive {'integer' if kind is int else 'number'}, "
            f"got {value!r}; remove it to use the default {default}."
        )
    return number


def _conn_id(extra: Mapping[str, Any], key: str, conn_id: str) -> str | None:
    """An optional Airflow connection id named in the extra."""
    value = extra.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not value.strip():
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra {key!r} must be the id of an Airflow connection, got {value!r}; "
            f"remove it to go without."
        )
    return value.strip()


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _base_url(conn_id: str, host: str | None, port: Any, schema: str | None, allow_insecure_http: bool) -> str:
    """The base URL from the connection's host, port and schema, in every form a user can write them.

    The host is a URL (``https://host[:port]``) or a bare host name; a bare host takes its
    scheme from the schema (``http``/``https``, as the URI form ``lips://:T@host:8080/http``
    sets it), else https. The port field (UI, URI or JSON) applies unless the URL names the
    same port or none; ``0`` or empty is unset, as the form saves it.
    """
    if not host:
        raise LipsValidationError(f"Connection {conn_id!r} has no host: set it to the LIPS base URL, e.g. {_EXAMPLE_URL}.")
    if port in (None, "", 0, "0"):
        port = None
    elif not str(port).isdigit() or not 0 < int(port) < 65536:
        raise LipsValidationError(f"Connection {conn_id!r}: port must be a number from 1 to 65535, got {port!r}.")
    url = host.strip().rstrip("/")
    if "://" not in url:
        if schema not in (None, "", "http", "https"):
            raise LipsValidationError(
                f"Connection {conn_id!r}: schema {schema!r} is not a URL scheme; use 'https' or 'http', or "
                f"write the scheme in the host, e.g. {_EXAMPLE_URL}."
            )
        url = f"{schema or 'https'}://{url}"
    parts = urlsplit(url)
    shown = f"{host!r}" + (f" with port {port}" if port else "")
    try:
        url_port = parts.port
    except ValueError:
        url_port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or url_port == -1:
        raise LipsValidationError(
            f"Connection {conn_id!r} host {shown} is not a base URL: set it to e.g. {_EXAMPLE_URL}."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise LipsValidationError(
            f"Connection {conn_id!r} host must be a plain base URL without credentials, query or fragment, "
            f"e.g. {_EXAMPLE_URL}; the token goes in the password field."
        )
    if port and url_port and int(port) != url_port:
        raise LipsValidationError(
            f"Connection {conn_id!r}: the host {host!r} names port {url_port} but the port field says {port}; "
            f"clear one of them."
        )
    if port and not url_port:
        netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        url = parts._replace(netloc=f"{netloc}:{int(port)}").geturl()
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise LipsValidationError(
            f"Connection {conn_id!r} uses plain http to {parts.hostname}, which would send the API token unencrypted: "
            f"use https, or set extra 'allow_insecure_http': true if you really mean it."
        )
    return url


def _check_oauth2(conn_id: str, login: str | None, password: str, extra: Mapping[str, Any], allow_insecure_http: bool) -> None:
    """``auth_type: oauth2`` needs a client (extras) and a user (login and password); masks the client secret."""
    secret = extra.get("client_secret")
    if isinstance(secret, str) and secret:
        mask_secret(secret)
    needed = {
        "client_id": (extra.get("client_id"), "the extra 'client_id': the OAuth2 client id LocaliQ issued you"),
        "client_secret": (secret, "the extra 'client_secret': the OAuth2 client's secret"),
        "login": (login, "the connection's 'login': the OAuth2 user's name"),
        "password": (password, "the connection's 'password': the OAuth2 user's password"),
    }
    for name, (value, where) in needed.items():
        if not isinstance(value, str) or not value:
            raise LipsValidationError(
                f"Connection {conn_id!r} uses auth_type 'oauth2' but has no '{name}': put it in {where}."
            )
    token_url = extra.get("token_url")
    if token_url in (None, ""):
        return
    parts = urlsplit(str(token_url))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra 'token_url' must be an http(s) URL without credentials, got "
            f"{token_url!r}; remove it to use {DEFAULT_TOKEN_URL}."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra 'token_url' uses plain http to {parts.hostname}, which would send the "
            f"client secret and password unencrypted: use https, or set extra 'allow_insecure_http': true."
        )


def parse_settings(conn: Any, conn_id: str, **arguments: Any) -> LipsClientSettings:
    """Validate ``conn`` (an Airflow Connection) with the operator's ``arguments`` applied on top.

    ``arguments`` are keyed like the extra (``per_page``, ``concurrency``, ...); ``None`` means
    "not given", so the connection's extra and then the package default apply.
    """
    extra = dict(conn.extra_dejson)
    token = conn.password or ""
    api_key = extra.get("api_key") or None
    if token:
        mask_secret(token)
    if api_key:
        mask_secret(api_key)
    auth_type = extra.get("auth_type") or DEFAULT_AUTH_TYPE
    if auth_type not in AUTH_TYPES:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra 'auth_type' must be one of {list(AUTH_TYPES)}, got {auth_type!r}; "
            f"remove it to use {DEFAULT_AUTH_TYPE!r}."
        )
    # Parsed, not cast: bool("false") is True, and a form or a URI query delivers "false".
    allow_insecure_http = parse_flag(
        extra.get("allow_insecure_http"), f"Connection {conn_id!r}: extra 'allow_insecure_http'", default=False
    )
    if auth_type == "oauth2":
        _check_oauth2(conn_id, conn.login, token, extra, allow_insecure_http)
    elif not token:
        raise LipsValidationError(
            f"Connection {conn_id!r} has no API token: put the token LIPS issued you in the connection's password field."
        )
    if api_key is not None and not isinstance(api_key, str):
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra 'api_key' must be a string, got {type(api_key).__name__}; "
            f"put the key in quotes or remove it."
        )

    def setting(key: str, default: float, kind: type = float) -> Any:
        return _positive(resolve(arguments.get(key), extra, key), key, default, conn_id, kind)

    request_timeout = setting("request_timeout", DEFAULT_REQUEST_TIMEOUT)
    settings = LipsClientSettings(
        conn_id=conn_id,
        base_url=_base_url(conn_id, conn.host, conn.port, conn.schema, allow_insecure_http),
        token=token,
        api_key=api_key,
        auth_type=auth_type,
        login=conn.login or None,
        extra=MappingProxyType(extra),
        request_timeout=request_timeout,
        requests_per_second=setting("requests_per_second", DEFAULT_REQUESTS_PER_SECOND),
        per_page=setting("per_page", DEFAULT_PER_PAGE, int),
        concurrency=setting("concurrency", DEFAULT_CONCURRENCY, int),
        max_attempts=setting("max_attempts", RetryPolicy.max_attempts, int),
        retry_base_wait=setting("retry_base_wait", RetryPolicy.base_wait),
        retry_max_wait=setting("retry_max_wait", RetryPolicy.max_wait),
        rate_limit_redis_conn_id=_conn_id(extra, "rate_limit_redis_conn_id", conn_id),
        max_bytes_in_flight=setting("max_bytes_in_flight", DEFAULT_MAX_BYTES_IN_FLIGHT, int),
        max_response_bytes=setting("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES, int),
        response_deadline=setting("response_deadline", RESPONSE_DEADLINE_TIMEOUTS * request_timeout),
    )
    if settings.per_page > MAX_PER_PAGE:
        raise LipsValidationError(
            f"Connection {conn_id!r}: extra 'per_page' must be at most {MAX_PER_PAGE}, got {settings.per_page}; "
            f"lower it or remove it to use the default {DEFAULT_PER_PAGE}."
        )
    return settings
