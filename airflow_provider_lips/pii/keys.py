"""The PII key: reading it from its Airflow connection, its fingerprint, and ``pii1`` hashing with it.

Hashes are ``pii1:`` + the 64 hex digits of HMAC-SHA256(key, normalised value): keyed, so a
phone number cannot be recovered by hashing every possible number without the key;
deterministic, so one person gets one value across days, advertisers and tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from typing import Any

from airflow_provider_lips.exceptions import LipsValidationError

__all__ = [
    "DEFAULT_PII_KEY_CONN_ID",
    "HASH_PREFIX",
    "KEY_FINGERPRINT_PREFIX",
    "MIN_KEY_LENGTH",
    "Hasher",
    "key_fingerprint",
    "normalize",
    "read_key",
]

DEFAULT_PII_KEY_CONN_ID = "lips_pii_key"
HASH_PREFIX = "pii1:"  # bump the digit whenever normalisation or the MAC changes
KEY_FINGERPRINT_PREFIX = "kf1:"
MIN_KEY_LENGTH = 16
_FINGERPRINT_LABEL = b"airflow-provider-lips pii key fingerprint v1"
_KEY_HOWTO = (
    "create it with its password set to a long random secret, e.g. "
    "airflow connections add {conn_id} --conn-type generic "
    "--conn-password \"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\""
)


def normalize(value: str) -> str:
    """The text that is hashed: one spelling per e-mail, phone number or name, so joins work.

    E-mail (``local@domain``): trimmed, lower-cased. Phone number (7 to 15 digits with the
    usual separators, an optional ``+``/``00`` and an optional extension): E.164 without the
    extension; 10 digits without a country code are taken as North American (+1). Anything
    else (names): Unicode NFKC, whitespace runs collapsed, trimmed, case-folded.
    """
    text = value.strip()
    if "@" in text:
        if _EMAIL.fullmatch(text):
            return text.lower()
    elif text[:1] in _PHONE_START:
        if _E164.fullmatch(text):  # the common case: LIPS sends E.164
            return text
        phone = _PHONE.fullmatch(text)
        if phone:
            digits = _NON_DIGITS.sub("", phone["number"])
            if 7 <= len(digits) <= 15:
                if not phone["intl"] and len(digits) == 10:
                    digits = "1" + digits
                return "+" + digits
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_START = frozenset("+0123456789(")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_PHONE = re.compile(
    r"(?P<intl>\+|00)?(?P<number>\(?\d[\d\s().\-/]*?)\s*(?:(?:x|ext\.?|extension|#)\s*\d{1,6})?", re.IGNORECASE
)
_NON_DIGITS = re.compile(r"\D")


def key_fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it (an HMAC of a fixed label): the manifest and the load compare these."""
    return KEY_FINGERPRINT_PREFIX + hmac.digest(key, _FINGERPRINT_LABEL, "sha256")[:8].hex()


class Hasher:
    """``pii1`` hashing with one key, remembering recent values: contacts and tracking numbers recur."""

    _CACHE_LIMIT = 1 << 15  # at most ~8 MB; a day's pull of one advertiser has far fewer distinct values

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # copied per value: cheaper than hmac.digest
        self.cache: dict[str, str] = {}  # raw value -> hash; read directly by the redactor's hot path

    def __repr__(self) -> str:  # never the key
        return "Hasher()"

    def __call__(self, value: Any) -> Any:
        """``pii1:<hex>`` of a scalar's normalised text; each element of a list; an object as its canonical JSON."""
        if value is None:
            return None
        if isinstance(value, str):
            done = self.cache.get(value)
            if done is None:
                if len(self.cache) >= self._CACHE_LIMIT:
                    self.cache.clear()
                mac = self._mac.copy()
                mac.update(normalize(value).encode())
                done = HASH_PREFIX + mac.hexdigest()
                self.cache[value] = done
            return done
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, dict):
            return self(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        return self(json.dumps(value))  # numbers and booleans by their JSON spelling


def read_key(conn_id: str) -> bytes:
    """The HMAC key: the password of Airflow connection ``conn_id``, masked in logs the moment it is read."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as err:  # AirflowNotFoundException and its kin differ across Airflow versions
        raise LipsValidationError(
            f"pii hashes fields, so it needs a key, but connection {conn_id!r} could not be read "
            f"({type(err).__name__}); {_KEY_HOWTO.format(conn_id=conn_id)}."
        ) from None
    secret = connection.password or ""
    if secret:
        mask_secret(secret)
    if len(secret) < MIN_KEY_LENGTH:
        raise LipsValidationError(
            f"The PII key in connection {conn_id!r} (its password field) is "
            f"{'empty' if not secret else f'shorter than {MIN_KEY_LENGTH} characters'}; "
            + _KEY_HOWTO.format(conn_id=conn_id) + "."
        )
    return secret.encode()

