"""The PII policy: the public names of :mod:`.policy`."""

from __future__ import annotations

from airflow_provider_lips.pii.policy import (
    ACTIONS,
    DEFAULT_PII_KEY_CONN_ID,
    HASH_PREFIX,
    KEY_FINGERPRINT_PREFIX,
    MIN_KEY_LENGTH,
    PRESETS,
    Action,
    PiiPolicy,
    Redactor,
    key_fingerprint,
    normalize,
    parse_policy,
    read_key,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_PII_KEY_CONN_ID",
    "HASH_PREFIX",
    "KEY_FINGERPRINT_PREFIX",
    "MIN_KEY_LENGTH",
    "PRESETS",
    "Action",
    "PiiPolicy",
    "Redactor",
    "key_fingerprint",
    "normalize",
    "parse_policy",
    "read_key",
]
