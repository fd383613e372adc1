"""The provider's description for Airflow's providers manager (entry point ``apache_airflow_provider``).

The connection form's descriptions state each setting's default from the constants the
settings use (:mod:`airflow_provider_lips.client.defaults`), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_lips import __version__
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


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-lips",
        "name": "LIPS (LocaliQ / Gannett)",
        "description": "Pull LIPS contact interactions (calls, forms, chats, bookings) into storage and SQL.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "LIPS",
                "external-doc-url": "https://github.com/airflow-provider-lips/airflow-provider-lips",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "LIPS", "python-modules": ["airflow_provider_lips.hooks.lips"]}],
        "operators": [
            {
                "integration-name": "LIPS",
                "python-modules": [
                    "airflow_provider_lips.operators.contact_interactions",
                    "airflow_provider_lips.operators.contacts",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "LIPS",
                "target-integration-name": "Common SQL",
                "python-module": "airflow_provider_lips.transfers.contact_interactions_to_sql",
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_lips.hooks.lips.LipsHook",
                "hook-name": "LIPS",
                "connection-type": "lips",
                # No "default" in any schema: the form would write it into every saved connection's
                # extra, freezing today's defaults there. Defaults are said in the descriptions.
                "conn-fields": {
                    "auth_type": {
                        "label": "Authentication",
                        "description": f"{' or '.join(AUTH_TYPES)}; empty means {DEFAULT_AUTH_TYPE}. token: the password is the API "
                        "token. oauth2: login and password are the OAuth2 user's, with the client id and secret below.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_id": {
                        "label": "OAuth2 client id",
                        "description": "oauth2 only: the client id LocaliQ issued you.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_secret": {
                        "label": "OAuth2 client secret",
                        "description": "oauth2 only.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "token_url": {
                        "label": "OAuth2 token URL",
                        "description": f"oauth2 only; empty means {DEFAULT_TOKEN_URL}.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_key": {
                        "label": "API key",
                        "description": "Sent as the x-api-key header when set; newer LIPS examples omit it.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "request_timeout": {
                        "label": "Request timeout (seconds)",
                        "description": f"Empty: {DEFAULT_REQUEST_TIMEOUT:g}.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": f"Client-side rate limit shared by every request of a task. Empty: {DEFAULT_REQUESTS_PER_SECOND:g}.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "per_page": {
                        "label": "Page size",
                        "description": f"Empty: {DEFAULT_PER_PAGE} (at most {MAX_PER_PAGE}).",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "concurrency": {
                        "label": "Concurrent requests",
                        "description": f"Pages in flight at once. Empty: {DEFAULT_CONCURRENCY}.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "rate_limit_redis_conn_id": {
                        "label": "Rate budget Redis connection",
                        "description": "An Airflow Redis connection holding the rate budget shared by every worker on "
                        "these credentials (CeleryExecutor, KubernetesExecutor). Empty: shared by this machine's "
                        "processes only.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_bytes_in_flight": {
                        "label": "Page bytes in flight",
                        "description": f"Most bytes of page bodies one pull holds at once (default {_mib(DEFAULT_MAX_BYTES_IN_FLIGHT)}); "
                        "at least one page is fetched while the previous one is written.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "max_response_bytes": {
                        "label": "Largest answer (bytes)",
                        "description": "An answer larger than this is refused while it is read, not retried. Empty: "
                        f"{_mib(DEFAULT_MAX_RESPONSE_BYTES)}, far above any LIPS page.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "response_deadline": {
                        "label": "Answer deadline (seconds)",
                        "description": "One answer, headers and body, must be complete within this, or it is retried "
                        f"like a timeout. Empty: {RESPONSE_DEADLINE_TIMEOUTS} x the request timeout.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "max_attempts": {
                        "label": "Attempts per request",
                        "description": f"Tries for 429, 5xx, dropped connections and timeouts. Empty: {RetryPolicy.max_attempts}.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "retry_base_wait": {
                        "label": "First retry wait (seconds)",
                        "description": f"Backoff doubles from here, with jitter. Empty: {RetryPolicy.base_wait:g}.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "retry_max_wait": {
                        "label": "Longest retry wait (seconds)",
                        "description": f"Caps one wait, Retry-After included. Empty: {RetryPolicy.max_wait:g}.",
                        "schema": {"type": ["number", "null"]},
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http",
                        "description": "Permit an http:// base URL on a non-loopback host. Empty: off.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    # The port stays visible, to be filled in: the UI's Test button posts the stored
                    # port as a number, 0 when empty, which Airflow up to 3.3.2 refuses as "differs
                    # from the stored connection" (apache/airflow#73298).
                    # The login is the OAuth2 user's name.
                    "hidden-fields": ["schema"],
                    "relabeling": {"host": "Base URL", "login": "OAuth2 username", "password": "API token or OAuth2 password"},
                    "placeholders": {
                        "host": "https://data-connect-lips.ganettdigital.com",
                        "port": "443 for https (the Test button needs it); else the Base URL's",
                        "login": "oauth2 only: the user's name",
                        "password": "token: sent as 'Authorization: token <token>'; oauth2: the user's password",
                    },
                },
            }
        ],
    }
