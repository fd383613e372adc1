"""OAuth2 bearer authentication: the vendor's password grant, rotating refresh tokens, one renewal at a time.

LocaliQ's token endpoint (LIPS_API.md) issues 2-hour access tokens and single-use refresh
tokens that rotate with every grant. This authenticator obtains a token with the password
grant on the first request, reuses it until shortly before ``expires_in``, renews it with
the refresh token, falls back to the password grant when the refresh token is used up
(``invalid_grant``), and renews once more when the API answers 401. Page requests run on
many threads, so renewals are serialised: the first thread renews, the others wait and use
its token. Every token and secret is masked the moment it is read and redacted from
messages. The authenticator does not send requests itself: it is given a
:class:`TokenRequest` (the requester's, with its retries), which sends the grant only to the
token URL, without the API's credentials and without following redirects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import requests

from airflow.sdk.log import mask_secret
from airflow_provider_lips.client.auth import LipsAuth
from airflow_provider_lips.client.defaults import DEFAULT_TOKEN_URL
from airflow_provider_lips.exceptions import LipsApiError, LipsResponseError

if TYPE_CHECKING:
    from airflow_provider_lips.client.settings import LipsClientSettings

log = logging.getLogger(__name__)

# Renew this long before the token expires (at most; a tenth of a short lifetime instead).
_RENEW_MARGIN_SECONDS = 60.0


class TokenRequest(Protocol):
    """Sends one grant: POST ``body`` as JSON to ``url``, retrying dropped connections and 5xx.

    It must send no API credentials, follow no redirect (the body holds secrets) and return
    a 400 or 401 answer rather than raise, since those carry the OAuth2 error code; ``what``
    names the request in error messages.
    """

    def __call__(self, url: str, body: Mapping[str, str], *, what: str) -> requests.Response: ...


@dataclass(frozen=True)
class _Token:
    access: str
    refresh: str | None
    renew_at: float  # time.monotonic() after which the token is renewed before use


class OAuth2Auth(LipsAuth):
    """``Authorization: Bearer <access token>`` from the connection's OAuth2 client and user.

    The connection's login and password are the user's; the extras ``client_id``,
    ``client_secret`` and ``token_url`` name the client and the token endpoint (the
    settings have validated all of them).
    """

    unauthorized_hint = (
        "the API refused a freshly renewed access token: check that this OAuth2 user may read LIPS, "
        "and the connection's host"
    )

    def __init__(self, settings: LipsClientSettings, send_token_request: TokenRequest) -> None:
        super().__init__(settings)
        self._send = send_token_request
        extra = settings.extra
        self.token_url: str = extra.get("token_url") or DEFAULT_TOKEN_URL
        self._client = {"client_id": str(extra["client_id"]), "client_secret": str(extra["client_secret"])}
        self._user = {"username": settings.login or "", "password": settings.token}
        self._lock = threading.RLock()  # reentrant: messages built during a grant redact through secrets()
        self._token: _Token | None = None
        self._seen: list[str] = []  # every token this process received, for redaction

    def authorization(self) -> str:
        return f"Bearer {self.access_token()}"

    def access_token(self) -> str:
        """A usable access token, obtained or renewed first if needed (one thread renews, the others wait)."""
        with self._lock:
            token = self._token
            if token is None or time.monotonic() >= token.renew_at:
                token = self._renew(token)
            return token.access

    def refresh(self, response: requests.Response) -> bool:
        """After a 401: renew the token the failed request carried, unless another thread already did."""
        sent = response.request.headers.get("Authorization") or ""
        with self._lock:
            token = self._token
            if token is not None and sent != f"Bearer {token.access}":
                return True  # it carried an older token: the current one is worth one more try
            self._renew(token)
        return True

    def secrets(self) -> list[str]:
        with self._lock:
            seen = list(self._seen)
        return [*super().secrets(), self._client["client_secret"], self._user["password"], *seen]

    # -- grants (called with the lock held) -------------------------------------------------

    def _renew(self, token: _Token | None) -> _Token:
        """Refresh when we hold a refresh token, else (or when it is used up) the password grant."""
        if token is not None and token.refresh:
            renewed = self._grant({"grant_type": "refresh_token", "refresh_token": token.refresh}, refreshing=True)
            if renewed is not None:
                return renewed
            log.info("The OAuth2 refresh token was used up or revoked (invalid_grant): using the password grant.")
        obtained = self._grant({"grant_type": "password", **self._user}, refreshing=False)
        assert obtained is not None  # noqa: S101 (narrows the type: the password grant raises rather than answering None)
        return obtained

    def _grant(self, params: dict[str, str], *, refreshing: bool) -> _Token | None:
        """POST one grant and keep its token; None for a refresh token the server no longer takes."""
        sent_at = time.monotonic()
        response = self._send(
            self.token_url, {**params, **self._client}, what=f"POST {self.token_url} ({params['grant_type']} grant)"
        )
        body = self._decode(response)
        if response.status_code < 300:
            return self._keep(body, sent_at)
        error = str(body.get("error") or "")
        if refreshing and error == "invalid_grant":
            return None
        message = self.redact(self._rejection(response.status_code, error, refreshing))
        raise LipsApiError(message, status=response.status_code)

    def _keep(self, body: dict[str, Any], sent_at: float) -> _Token:
        """Mask, check and remember a grant's tokens; renewal is due shortly before ``expires_in``."""
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if isinstance(access, str) and access:
            mask_secret(access)
        if isinstance(refresh, str) and refresh:
            mask_secret(refresh)
        token_type = body.get("token_type")
        if not isinstance(access, str) or not access or str(token_type).lower() != "bearer":
            raise LipsResponseError(
                f"The OAuth2 token endpoint {self.token_url} answered 2xx without a bearer access_token "
                f"(token_type {token_type!r}); check extra 'token_url'."
            )
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 7200.0
        self._seen += [secret for secret in (access, refresh) if isinstance(secret, str) and secret]
        self._token = _Token(
            access=access,
            refresh=refresh if isinstance(refresh, str) and refresh else None,
            renew_at=sent_at + lifetime - min(_RENEW_MARGIN_SECONDS, lifetime / 10),
        )
        return self._token

    def _decode(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = msgspec.json.decode(response.content)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past what the decoder follows
            body = None
        if not isinstance(body, dict):
            raise LipsResponseError(
                f"The OAuth2 token endpoint {self.token_url} answered {response.status_code} with a body that is "
                f"not a JSON object: {self.excerpt(response.text)!r}; check extra 'token_url'."
            )
        return body

    def _rejection(self, status: int, error: str, refreshing: bool) -> str:
        """Which part of the credentials is wrong, without echoing any of them."""
        where = f"The OAuth2 token endpoint {self.token_url} answered {status} {error or '(no error code)'}"
        if error == "invalid_client":
            return (
                f"{where}: the client credentials were rejected; check the connection's extras 'client_id' "
                f"and 'client_secret'."
            )
        if error == "invalid_grant":
            return f"{where}: the user's credentials were rejected; check the connection's login and password."
        return f"{where} to the {'refresh_token' if refreshing else 'password'} grant; check extra 'token_url'."
