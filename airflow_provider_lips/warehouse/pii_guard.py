"""Which PII key hashed each table's rows, so that files hashed with different keys are not mixed unnoticed."""

# SQL text built here names only tables checked by schema.check_identifier, or constants;
# values always go as bound parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsValidationError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from airflow_provider_lips.warehouse.dialects import Dialect

__all__ = ["PII_KEYS_TABLE", "PLAINTEXT", "claim_pii_key", "pii_key_of"]

PII_KEYS_TABLE = "lips_pii_keys"
PLAINTEXT = "none (no PII policy)"


def pii_key_of(source: str | ObjectStoragePath | Mapping[str, Any]) -> str | None:
    """A manifest's key fingerprint, PLAINTEXT for a pull without policy, None when nothing is keyed or known."""
    if not isinstance(source, Mapping):
        return None  # a bare URI says nothing about how the file was made
    pii = source.get("pii")
    if not isinstance(pii, Mapping):
        return PLAINTEXT
    fingerprint = pii.get("key_fingerprint")
    return fingerprint if isinstance(fingerprint, str) and fingerprint else None  # a policy that hashes nothing


def claim_pii_key(
    cursor: Any, dialect: Dialect, tables: Sequence[str], pii_key: str, uri: str, *, allow_mixed: bool
) -> None:
    """Fail if ``tables`` hold rows made with another key (unless ``allow_mixed``); record this file's key."""
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {PII_KEYS_TABLE} (table_name TEXT NOT NULL, key_fingerprint TEXT NOT NULL, "
        "first_uri TEXT NOT NULL, PRIMARY KEY (table_name, key_fingerprint))"
    )
    mark = dialect.placeholder
    cursor.execute(
        f"SELECT table_name, key_fingerprint, first_uri FROM {PII_KEYS_TABLE} "
        f"WHERE table_name IN ({', '.join(mark for _ in tables)}) AND key_fingerprint <> {mark} ORDER BY table_name",
        (*tables, pii_key),
    )
    others = cursor.fetchall()  # read to the end: a pending SELECT would keep SQLite's lock past a rollback
    if others and not allow_mixed:
        table, fingerprint, first_uri = others[0]
        raise LipsValidationError(
            f"{uri} was made with PII key {pii_key}, but {table} already holds rows made with key {fingerprint} "
            f"(first from {first_uri}); hashes from different keys never match, so joins across them would silently "
            "fail. Load it into other tables (interactions_table=..., contacts_table=...), pull again with the "
            "tables' key, or pass allow_mixed_pii_keys=True to mix them knowingly."
        )
    cursor.executemany(
        f"INSERT INTO {PII_KEYS_TABLE} (table_name, key_fingerprint, first_uri) VALUES ({mark}, {mark}, {mark}) "
        "ON CONFLICT (table_name, key_fingerprint) DO NOTHING",
        [(table, pii_key, uri) for table in tables],
    )
