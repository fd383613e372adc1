"""The sandbox's OAuth2 token endpoint: password and refresh_token grants, bearer checks.

It behaves like the vendor's (Doorkeeper-style) server as LIPS_API.md describes it:
``POST /oauth/token`` with a JSON (or form) body answers ``access_token``,
``token_type: bearer``, ``expires_in``, ``refresh_token`` and ``created_at``; refresh
tokens are single-use and rotate, and refreshing revokes the access token they came
with; a wrong client answers 401 ``invalid_client``, a wrong user or a used-up refresh
token 400 ``invalid_grant``. Lifetimes are settings, so tests can watch tokens expire.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from lips_sandbox.settings import SandboxSettings

__all__ = ["TOKEN_PATH", "TokenIssuer", "TokenReply"]

TOKEN_PATH = "/oauth/token"

_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
    "used in the authorization request, or was issued to another client."
)


@dataclass(frozen=True)
class TokenReply:
    """Status and JSON body of a token request, plus the grant type for the request log."""

    status: int
    body: dict[str, Any]
    grant_type: str | None


@dataclass
class _Grant:
    """One issued access token and the refresh token that replaces it."""

    access_token: str
    refresh_token: str
    expires_at: float  # time.monotonic()
    refresh_expires_at: float | None
    revoked: bool = False


def _error(status: int, code: str, description: str, grant_type: str | None) -> TokenReply:
    return TokenReply(status, {"error": code, "error_description": description}, grant_type)


def _parse_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The request's parameters: JSON as the vendor documents, form-encoded as RFC 6749 does."""
    try:
        if "application/x-www-form-urlencoded" in content_type:
            return dict(parse_qsl(body.decode(), keep_blank_values=True))
        parsed = json.loads(body or b"{}")
    except (UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


class TokenIssuer:
    """Issues, rotates and checks tokens; thread-safe (the sandbox serves from many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_access: dict[str, _Grant] = {}
        self._by_refresh: dict[str, _Grant] = {}  # only refresh tokens not used yet

    def issue(self, body: bytes, content_type: str, settings: SandboxSettings) -> TokenReply:
        """Answer one ``POST /oauth/token``."""
        params = _parse_body(body, content_type)
        if params is None:
            return _error(400, "invalid_request", "The request body must be a JSON object.", None)
        grant_type = params.get("grant_type")
        grant_name = grant_type if isinstance(grant_type, str) else None
        if settings.oauth_client_id is None:
            return _error(401, "invalid_client", "OAuth2 is not configured on this sandbox.", grant_name)
        if grant_type not in ("password", "refresh_token"):
            return _error(
                400, "unsupported_grant_type", "The authorization grant type is not supported.", grant_name
            )
        if params.get("client_id") != settings.oauth_client_id or params.get("client_secret") != settings.oauth_client_secret:
            return _error(401, "invalid_client", _INVALID_CLIENT, grant_name)
        with self._lock:
            if grant_type == "password":
                for name in ("username", "password"):
                    if not params.get(name):
                        return _error(400, "invalid_request", f"Missing required parameter: {name}.", grant_name)
                if params["username"] != settings.oauth_username or params["password"] != settings.oauth_password:
                    return _error(400, "invalid_grant", _INVALID_GRANT, grant_name)
            else:
                previous = self._by_refresh.pop(str(params.get("refresh_token") or ""), None)
                now = time.monotonic()
                if previous is None or (previous.refresh_expires_at is not None and now >= previous.refresh_expires_at):
                    return _error(400, "invalid_grant", _INVALID_GRANT, grant_name)
                previous.revoked = True  # the access token it came with stops working too
            return TokenReply(200, self._new_grant(settings), grant_name)

    def _new_grant(self, settings: SandboxSettings) -> dict[str, Any]:
        """Create and remember a grant; called with the lock held."""
        now = time.monotonic()
        refresh_seconds = settings.oauth_refresh_token_seconds
        grant = _Grant(
            access_token=secrets.token_hex(32),
            refresh_token=secrets.token_hex(32),
            expires_at=now + settings.oauth_access_token_seconds,
            refresh_expires_at=None if refresh_seconds is None else now + refresh_seconds,
        )
        self._by_access[grant.access_token] = grant
        self._by_refresh[grant.refresh_token] = grant
        return {
            "access_token": grant.access_token,
            "token_type": "bearer",
            # The vendor sends whole seconds; a sub-second test lifetime still says at least 1.
            "expires_in": max(1, round(settings.oauth_access_token_seconds)),
            "refresh_token": grant.refresh_token,
            "created_at": int(time.time()),
        }

    def check(self, access_token: str) -> str | None:
        """None when the bearer token may call the API, else why not (the 401's description)."""
        with self._lock:
            grant = self._by_access.get(access_token)
            if grant is None or grant.revoked:
                return "The access token is invalid"
            if time.monotonic() >= grant.expires_at:
                return "The access token expired"
        return None

    def issued(self) -> list[str]:
        """Every access and refresh token issued so far, oldest first (for leak checks)."""
        with self._lock:
            return [token for grant in self._by_access.values() for token in (grant.access_token, grant.refresh_token)]

    def expire_all(self) -> int:
        """Make every issued access token expired at once (refresh tokens stay usable); returns how many."""
        with self._lock:
            now = time.monotonic()
            live = [grant for grant in self._by_access.values() if grant.expires_at > now]
            for grant in live:
                grant.expires_at = now
            return len(live)
