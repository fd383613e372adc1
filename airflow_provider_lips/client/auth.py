"""Authenticators: how a request proves who sends it, chosen by the connection's ``auth_type``.

Each authenticator is a ``requests`` auth object built from the settings. It adds its
credentials only to requests for the connection's own host (scheme, host and port), so a
URL elsewhere never receives them; redirects are covered by the requester's session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from airflow_provider_lips.client.requester import Requester
    from airflow_provider_lips.client.settings import LipsClientSettings


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class LipsAuth(requests.auth.AuthBase):
    """Base authenticator: credentials for the connection's origin only, a redaction list, refresh."""

    unauthorized_hint = "check the connection's credentials"  # what a 401 error message advises

    def __init__(self, settings: LipsClientSettings, requester: Requester) -> None:
        self.settings = settings
        self.requester = requester
        self._origin = _origin(settings.base_url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if _origin(request.url or "") == self._origin:
            request.headers.update(self.headers())
        return request

    def headers(self) -> dict[str, str]:
        """The credential headers for one request to the LIPS API."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every secret value this authenticator holds, to redact from messages."""
        return []

    def refresh(self, response: requests.Response) -> bool:
        """Called after ``response`` answered 401: obtain fresh credentials and return True to have
        the request sent once more."""
        return False


class TokenAuth(LipsAuth):
    """``Authorization: token <password>``, plus ``x-api-key`` when the connection has an API key."""

    unauthorized_hint = "check the connection's API token (password) and API key (extra 'api_key')"

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"token {self.settings.token}"}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        return headers

    def secrets(self) -> list[str]:
        return [secret for secret in (self.settings.token, self.settings.api_key) if secret]


AuthFactory = Callable[["LipsClientSettings", "Requester"], LipsAuth]


def _oauth2(settings: LipsClientSettings, requester: Requester) -> LipsAuth:
    from airflow_provider_lips.client.oauth2 import OAuth2Auth  # it builds on LipsAuth: imported when chosen

    return OAuth2Auth(settings, requester)


# auth_type -> authenticator; settings.AUTH_TYPES lists the names a connection may choose.
AUTHENTICATORS: dict[str, AuthFactory] = {"token": TokenAuth, "oauth2": _oauth2}


def build_auth(settings: LipsClientSettings, requester: Requester) -> LipsAuth:
    """The authenticator the connection's ``auth_type`` names (validated in the settings)."""
    return AUTHENTICATORS[settings.auth_type](settings, requester)
