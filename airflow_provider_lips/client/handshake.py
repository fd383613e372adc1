"""What a failed TLS handshake means, and the fix to name: it fails the same way on every try."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from airflow_provider_lips.exceptions import LipsTlsError

# OpenSSL's words when the peer answers a TLS hello with something that is not TLS (plain HTTP).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "packet length too long", "record layer failure", "http request")
_UNTRUSTED = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")


def tls_error(what: str, url: str, err: Exception) -> LipsTlsError:
    """A ``LipsTlsError`` naming ``host:port`` of ``url``, OpenSSL's reason and the likely fix."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    address = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    reason = _reason(err)
    if any(word in reason for word in _NOT_TLS):
        hint = (
            f"the server at {address} answered the TLS hello in plain HTTP, so it does not speak https. If it serves "
            f"plain HTTP (as the LIPS sandbox does), write the connection's host with the scheme: 'http://{address}' "
            f"(a host without a scheme means https://)"
        )
    elif any(word in reason for word in _UNTRUSTED):
        hint = (
            f"the certificate {address} presented is not trusted for that name: check the host is the LIPS base URL, "
            f"or add the issuing CA to the bundle requests uses (REQUESTS_CA_BUNDLE)"
        )
    else:
        hint = f"check that {address} serves https, or write the host as 'http://{address}' if it serves plain HTTP"
    return LipsTlsError(
        f"{what}: the TLS handshake with {address} failed ({reason}) — {hint}. "
        f"Not retried: a handshake fails the same way on every try."
    )


def _reason(err: BaseException) -> str:
    """OpenSSL's own words: the ``ssl.SSLError`` that requests and urllib3 wrap, else ``err`` itself."""
    current: object = err
    for _ in range(8):  # requests' SSLError > urllib3's MaxRetryError > urllib3's SSLError > ssl.SSLError
        if isinstance(current, ssl.SSLError):
            return str(current)
        nested = getattr(current, "reason", None)
        args = getattr(current, "args", ())
        current = nested if isinstance(nested, BaseException) else args[0] if args else None
    return str(err)
