"""Authenticators: how a request proves who sends it, chosen by the connection's ``auth_type``.

Each authenticator is a ``requests`` auth object built from the settings alone (OAuth2's is
also given a way to send its token requests, :class:`~airflow_provider_lips.client.oauth2.TokenRequest`);
it knows nothing of the requester that uses it. It adds its credentials only to requests for
the connection's own host (scheme, host and port), so a URL elsewhere never receives them;
redirects are covered by the requester's session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from airflow_provider_lips.client.settings import LipsClientSettings

_EXCERPT = 300  # characters of a server's answer quoted in an error message


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class LipsAuth(requests.auth.AuthBase):
    """Base authenticator: credentials for the connection's origin only, a redaction list, refresh.

    Subclasses say what goes in ``Authorization``; the optional ``x-api-key`` is added here,
    whatever the scheme, whenever the connection has an API key.
    """

    unauthorized_hint = "check the connection's credentials"  # what a 401 error message advises

    def __init__(self, settings: LipsClientSettings) -> None:
        self.settings = settings
        self._origin = _origin(settings.base_url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if _origin(request.url or "") == self._origin:
            request.headers.update(self.headers())
        return request

    def headers(self) -> dict[str, str]:
        """The credential headers for one request to the LIPS API."""
        headers = {"Authorization": self.authorization()}
        if self.settings.api_key:  # optional for LIPS: sent whenever the connection has one
            headers["x-api-key"] = self.settings.api_key
        return headers

    def authorization(self) -> str:
        """The ``Authorization`` header's value."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every secret value this authenticator holds, to redact from messages."""
        return [self.settings.api_key] if self.settings.api_key else []

    def redact(self, text: str) -> str:
        """``text`` with every secret this authenticator holds replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def excerpt(self, text: str) -> str:
        """The start of a server's answer, redacted, short enough for an error message."""
        text = self.redact(text.strip())
        return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"

    def refresh(self, response: requests.Response) -> bool:
        """Called after ``response`` answered 401: obtain fresh credentials and return True to have
        the request sent once more."""
        return False


class TokenAuth(LipsAuth):
    """``Authorization: token <password>``, plus ``x-api-key`` when the connection has an API key."""

    unauthorized_hint = "check the connection's API token (password) and API key (extra 'api_key')"

    def authorization(self) -> str:
        return f"token {self.settings.token}"

    def secrets(self) -> list[str]:
        return [*super().secrets(), *([self.settings.token] if self.settings.token else [])]
