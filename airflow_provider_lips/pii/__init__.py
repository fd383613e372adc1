"""The PII policy: which fields of a record are kept, dropped or replaced by a keyed hash.

A policy is a preset name (``"pseudonymize"``, ``"drop"``) or a mapping from field path to
action. It is validated once (:func:`parse_policy`, before any request), compiled once with
the key into a :class:`Redactor`, and applied inside the pull before a record reaches any sink.

The modules, one job each: :mod:`.presets` (the presets as data), :mod:`.policy` (parsing and
validation), :mod:`.rules` (field paths as a tree of per-level rules), :mod:`.redactor`
(applying a policy to records) and :mod:`.keys` (the key: reading, fingerprint, ``pii1`` hashing).
"""

from __future__ import annotations

from airflow_provider_lips.pii.keys import (
    DEFAULT_PII_KEY_CONN_ID,
    HASH_PREFIX,
    KEY_FINGERPRINT_PREFIX,
    MIN_KEY_LENGTH,
    key_fingerprint,
    normalize,
    read_key,
)
from airflow_provider_lips.pii.policy import PiiPolicy, parse_policy
from airflow_provider_lips.pii.presets import ACTIONS, PRESETS, Action
from airflow_provider_lips.pii.redactor import Redactor

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
