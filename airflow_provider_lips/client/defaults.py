"""The connection settings' defaults, in one place for the settings and the connection form.

Imports nothing from Airflow, so the provider metadata (and a benchmark) can read them
cheaply. The retry defaults are :class:`~airflow_provider_lips.client.retry.RetryPolicy`'s.
"""

from __future__ import annotations

DEFAULT_REQUESTS_PER_SECOND = 20.0
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000  # the vendor's largest page
DEFAULT_CONCURRENCY = 12
# Page bodies a pull holds at once (in flight, waiting, being written): 64 MiB.
DEFAULT_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024
# One answer's body at most (a page of 1000 large records is a few MiB): 64 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# One answer, headers and body, within this many request_timeouts (90 s by default).
RESPONSE_DEADLINE_TIMEOUTS = 3
DEFAULT_AUTH_TYPE = "token"
AUTH_TYPES = ("token", "oauth2")
DEFAULT_TOKEN_URL = "https://api.localiqservices.com/oauth/token"  # noqa: S105 (a URL, not a password)
