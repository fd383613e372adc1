"""Load a JSON Lines file of LIPS contact interactions into SQL tables.

The load is plain Python around one DB-API connection so that any operator, ``@task``
or script can reuse it. It upserts, so re-running a load (Airflow retries, backfills,
overlapping pull windows) never duplicates rows, and it runs as one transaction per
file, so a bad file leaves the warehouse exactly as it was. Given a complete pull's
manifest, it also marks the interactions the vendor no longer has (:mod:`.sync`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

from airflow_provider_lips.exceptions import LipsBadFileError, LipsLoadError, LipsValidationError
from airflow_provider_lips.pull import records as spelling
from airflow_provider_lips.pull.window import parse_timestamp
from airflow_provider_lips.warehouse.sync import SyncScope, sync_scope

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

DEFAULT_INTERACTIONS_TABLE = "lips_contact_interactions"
DEFAULT_CONTACTS_TABLE = "lips_contacts"
DEFAULT_BATCH_SIZE = 1000
# What a load does with an interaction a complete pull no longer finds: set removed_at, or delete the row.
ON_REMOVED = ("mark", "delete")

# Unquoted identifiers only: they cannot inject SQL and mean the same table on every
# dialect. 47 characters leaves room for the derived index name in PostgreSQL's 63.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,46}")
_INTEGER = re.compile(r"[+-]?\d+")
# Keys that may hold the type-specific object; the event type itself is tried first.
_DETAIL_KEYS = ("call", "chat", "form", "booking", "lsa")

ColumnKind = Literal["bigint", "text", "timestamp", "json"]


@dataclass(frozen=True)
class LoadResult:
    """What one load wrote: distinct interactions and contacts upserted from ``uri``.

    ``removed`` counts the rows of the manifest's scope marked removed (or deleted) because
    the vendor no longer has them; ``sync`` says whether that ran, or why not.
    ``contacts_skipped`` counts interactions whose embedded contact had no id (the
    interaction is loaded, the contact row cannot be). ``rows`` tells, per table, how many
    rows the load inserted, updated and left unchanged (a reload of the same file: all unchanged).
    """

    uri: str
    records: int
    interactions: int
    contacts: int
    removed: int = 0
    contacts_skipped: int = 0
    sync: str = field(default="", compare=False)  # a sentence for people, not a value to compare
    rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict, compare=False)  # what this load did

    @classmethod
    def combine(cls, uri: str, results: Sequence[LoadResult]) -> LoadResult:
        """The sum of several files' loads (one manifest's files, say)."""
        rows: dict[str, dict[str, int]] = {}
        for result in results:
            for table, counts in result.rows.items():
                tally = rows.setdefault(table, dict.fromkeys(ROW_OUTCOMES, 0))
                for outcome in ROW_OUTCOMES:
                    tally[outcome] += counts.get(outcome, 0)
        return cls(
            uri,
            records=sum(r.records for r in results),
            interactions=sum(r.interactions for r in results),
            contacts=sum(r.contacts for r in results),
            removed=sum(r.removed for r in results),
            contacts_skipped=sum(r.contacts_skipped for r in results),
            sync="; ".join(dict.fromkeys(r.sync for r in results if r.sync)),
            rows=rows,
        )

    def describe_rows(self) -> str:
        """``table: n inserted, n updated, n unchanged`` for every table, for the log."""
        return "; ".join(
            f"{table}: " + ", ".join(f"{counts.get(outcome, 0)} {outcome}" for outcome in ROW_OUTCOMES)
            for table, counts in self.rows.items()
        )


ROW_OUTCOMES = ("inserted", "updated", "unchanged")


@dataclass(frozen=True)
class _Column:
    name: str
    kind: ColumnKind
    not_null: bool = False


# One spec per table drives the DDL, the upsert statement and parameter binding, so
# that they cannot drift apart. "id" is the primary key; "loaded_at" is when the load
# that last changed the row ran; ("version_at", "version_interaction_id") orders contact
# versions, the interaction id breaking ties so the result does not depend on load order.
_INTERACTION_COLUMNS: tuple[_Column, ...] = (
    _Column("id", "bigint", not_null=True),
    _Column("contact_id", "bigint"),
    _Column("global_master_advertiser_id", "text"),
    _Column("global_master_campaign_id", "text"),
    _Column("campaign_name", "text"),
    _Column("event_type", "text"),
    _Column("sub_type", "text"),
    _Column("channel", "text"),
    _Column("refer_type", "text"),
    _Column("refer_source", "text"),
    _Column("influencing_campaign", "text"),
    _Column("display_name", "text"),
    _Column("external_source", "text"),
    _Column("page_url", "text"),
    _Column("occurred_at", "timestamp", not_null=True),
    _Column("created_at", "timestamp"),
    _Column("archived_at", "timestamp"),
    _Column("removed_at", "timestamp"),  # set when a complete pull of its window no longer finds it
    _Column("details", "json"),
    _Column("raw", "json", not_null=True),
    _Column("loaded_at", "timestamp", not_null=True),
)
_CONTACT_COLUMNS: tuple[_Column, ...] = (
    _Column("id", "bigint", not_null=True),
    _Column("first_name", "text"),
    _Column("last_name", "text"),
    _Column("email", "text"),
    _Column("company", "text"),
    _Column("title", "text"),
    _Column("phone_numbers", "json"),
    _Column("created_at", "timestamp"),
    _Column("updated_at", "timestamp"),
    _Column("version_at", "timestamp", not_null=True),
    _Column("version_interaction_id", "bigint", not_null=True),
    _Column("raw", "json", not_null=True),
    _Column("loaded_at", "timestamp", not_null=True),
)


class _Dialect(ABC):
    """What differs between the supported databases; everything else is shared SQL."""

    name: str
    placeholder: str
    types: ClassVar[Mapping[ColumnKind, str]]
    distinct: str  # NULL-safe "differs from" operator

    def param(self, kind: ColumnKind) -> str:
        return self.placeholder

    def timestamp(self, value: datetime) -> Any:
        return value

    @abstractmethod
    def begin(self, conn: Any, cursor: Any, tables: Sequence[str]) -> None:
        """Open the load's transaction on a fresh connection."""

    @abstractmethod
    def columns(self, cursor: Any, table: str) -> set[str]:
        """The column names ``table`` has now (tables made by older versions lack newer ones)."""


class _Sqlite(_Dialect):
    name = "sqlite"
    placeholder = "?"
    # INTEGER PRIMARY KEY is SQLite's 64-bit rowid alias; TIMESTAMP columns hold UTC
    # text that sorts chronologically and that date()/julianday() understand.
    types: ClassVar[Mapping[ColumnKind, str]] = {"bigint": "INTEGER", "text": "TEXT", "timestamp": "TIMESTAMP", "json": "TEXT"}
    distinct = "IS NOT"

    def timestamp(self, value: datetime) -> str:
        utc = value.astimezone(timezone.utc).replace(tzinfo=None)
        return utc.isoformat(sep=" ", timespec="milliseconds")

    def begin(self, conn: Any, cursor: Any, tables: Sequence[str]) -> None:
        # sqlite3 would otherwise open transactions implicitly and only before DML;
        # IMMEDIATE takes the write lock up front instead of failing mid-file.
        conn.isolation_level = None
        cursor.execute("BEGIN IMMEDIATE")

    def columns(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(f"PRAGMA table_info({table})")
        return {row[1] for row in cursor.fetchall()}


class _Postgres(_Dialect):
    name = "postgres"
    placeholder = "%s"
    types: ClassVar[Mapping[ColumnKind, str]] = {"bigint": "BIGINT", "text": "TEXT", "timestamp": "TIMESTAMPTZ", "json": "JSONB"}
    distinct = "IS DISTINCT FROM"

    def param(self, kind: ColumnKind) -> str:
        # JSON goes over the wire as text; the cast works with psycopg2 and psycopg 3.
        return "CAST(%s AS JSONB)" if kind == "json" else "%s"

    def begin(self, conn: Any, cursor: Any, tables: Sequence[str]) -> None:
        # Concurrent loads (e.g. mapped tasks) would race on CREATE TABLE IF NOT EXISTS
        # and could deadlock upserting the same contacts: serialise them per table.
        conn.autocommit = False
        for table in sorted(tables):
            key = int.from_bytes(hashlib.sha256(table.encode()).digest()[:8], "big", signed=True)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def columns(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table.lower(),),
        )
        return {row[0] for row in cursor.fetchall()}


_DIALECTS: dict[str, _Dialect] = {d.name: d for d in (_Sqlite(), _Postgres())}


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` if it is a positive int, else raise an error saying how to fix it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LipsValidationError(f"batch_size must be a positive integer such as 1000, got {batch_size!r}")
    return batch_size


def check_table_names(interactions_table: str, contacts_table: str) -> None:
    """Reject table names that are not plain SQL identifiers, as they are put into SQL text."""
    _check_identifier("interactions_table", interactions_table)
    _check_identifier("contacts_table", contacts_table)
    if interactions_table.lower() == contacts_table.lower():
        raise LipsValidationError(f"interactions_table and contacts_table must differ, both are {interactions_table!r}")


def _check_identifier(parameter: str, value: object) -> None:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise LipsValidationError(
            f"{parameter} must be a plain SQL identifier (letters, digits, underscores, "
            f"not starting with a digit, at most 47 characters), got {value!r}"
        )


def check_on_removed(on_removed: object) -> str:
    """Return ``on_removed`` if it is ``"mark"`` or ``"delete"``, else raise an error saying so."""
    if on_removed not in ON_REMOVED:
        raise LipsValidationError(
            f"on_removed must be 'mark' (set removed_at) or 'delete' (drop the row), got {on_removed!r}"
        )
    return str(on_removed)


def load_contact_interactions(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    interactions_table: str = DEFAULT_INTERACTIONS_TABLE,
    contacts_table: str = DEFAULT_CONTACTS_TABLE,
    allow_mixed_pii_keys: bool = False,
    on_removed: str = "mark",
) -> LoadResult:
    """
    Upsert one JSON Lines file of contact interactions, and their contacts, in one transaction.

    An interaction's ``archived_at`` follows the file (archived since the last load: set;
    unarchived: cleared). When ``source`` is the manifest of a pull that was complete, took
    archived interactions too and was not filtered by type, phone or channel, the rows of
    its window and advertiser/campaign scope that the file does not hold are gone at the
    vendor: they get ``removed_at`` (or are deleted), and a later file holding one again
    clears the mark. See :mod:`airflow_provider_lips.warehouse.sync` for the rule.

    :param source: the file as a URI (``file:///...``, ``s3://conn@bucket/key``), an
        ``ObjectStoragePath``, or the pull's manifest ``{"uri": ..., "records": n, ...}``; with a
        manifest the file must hold exactly ``records`` records, so a truncated file fails.
    :param sql_conn_id: Airflow connection of type ``sqlite`` or ``postgres``.
    :param batch_size: rows per ``executemany``; bounds memory, not the transaction.
    :param interactions_table: one row per interaction id; the last load wins.
    :param contacts_table: one row per contact id; the newest version wins, whatever the
        order files are loaded in.
    :param allow_mixed_pii_keys: load a manifest whose PII key (or lack of one) differs from
        what the tables already hold; by default that fails, as the hashes would never match.
    :param on_removed: ``"mark"`` (default: set ``removed_at``, keep the row) or ``"delete"``.
    :raises LipsBadFileError: a bad record or a record count the manifest does not match.
    :raises LipsLoadError: a database error; the message names the file and its lines.
    """
    check_batch_size(batch_size)
    check_table_names(interactions_table, contacts_table)
    check_on_removed(on_removed)
    return _load(
        source, sql_conn_id, interactions_table, contacts_table, batch_size,
        listed_contacts=False, allow_mixed_pii_keys=allow_mixed_pii_keys, on_removed=on_removed,
    )


def load_contacts(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    contacts_table: str = DEFAULT_CONTACTS_TABLE,
    allow_mixed_pii_keys: bool = False,
) -> LoadResult:
    """
    Upsert one JSON Lines file of ``/contacts`` records (``LipsContactsOperator``) in one transaction.

    The rows go into the same table, with the same newest-wins rule, as the contacts embedded
    in interactions: a listed contact's version is its ``updated_at`` (else ``created_at``)
    with ``version_interaction_id`` 0, so an interaction's snapshot of the same moment wins
    the tie, and the result does not depend on which file is loaded first.
    Arguments, manifest check and errors as for :func:`load_contact_interactions`.
    """
    check_batch_size(batch_size)
    _check_identifier("contacts_table", contacts_table)
    return _load(
        source, sql_conn_id, None, contacts_table, batch_size, listed_contacts=True, allow_mixed_pii_keys=allow_mixed_pii_keys
    )


def _load(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    interactions_table: str | None,
    contacts_table: str,
    batch_size: int,
    *,
    listed_contacts: bool,
    allow_mixed_pii_keys: bool,
    on_removed: str = "mark",
) -> LoadResult:
    """Resolve, open and load one file in one transaction (both public loads end here)."""
    if isinstance(source, Mapping) and "files" in source:
        return LoadResult.combine(
            str(source.get("destination", "")),
            [
                _load(entry, sql_conn_id, interactions_table, contacts_table, batch_size, listed_contacts=listed_contacts,
                      allow_mixed_pii_keys=allow_mixed_pii_keys, on_removed=on_removed)
                for entry in _file_manifests(source)
            ],
        )
    if not isinstance(allow_mixed_pii_keys, bool):
        raise LipsValidationError(f"allow_mixed_pii_keys must be True or False, got {allow_mixed_pii_keys!r}")
    path, uri, expected_records = _resolve_source(source)
    pii_key = _pii_key_of(source)
    scope, sync_note = (None, "") if listed_contacts else sync_scope(source)
    hook = _get_hook(sql_conn_id)
    dialect = _get_dialect(hook, sql_conn_id)
    loader = _Loader(
        dialect,
        uri,
        interactions_table or "",
        contacts_table,
        batch_size,
        listed_contacts=listed_contacts,
        scope=scope,
        on_removed=on_removed,
        sync_note=sync_note,
    )
    tables = (contacts_table,) if interactions_table is None else (interactions_table, contacts_table)
    started = time.monotonic()
    with path.open("rb") as handle:
        conn = hook.get_conn()
        try:
            cursor = conn.cursor()
            dialect.begin(conn, cursor, (*tables, PII_KEYS_TABLE) if pii_key else tables)
            if pii_key:
                _claim_pii_key(cursor, dialect, tables, pii_key, uri, allow_mixed=allow_mixed_pii_keys)
            result = loader.load(cursor, handle)
            if expected_records is not None and result.records != expected_records:
                raise LipsBadFileError(
                    f"{uri}: the manifest promises {expected_records} records but the file has "
                    f"{result.records}; the file is incomplete or was replaced"
                )
            conn.commit()
        except BaseException:
            # If the connection itself broke, closing it below rolls back all the same.
            with suppress(Exception):
                conn.rollback()
            raise
        finally:
            conn.close()
    log.info(
        "Loaded %s into %s: %d records, %d interactions into %s, %d contacts into %s in %.1f s; rows %s",
        uri,
        dialect.name,
        result.records,
        result.interactions,
        interactions_table or "-",
        result.contacts,
        contacts_table,
        time.monotonic() - started,
        result.describe_rows(),
    )
    if result.contacts_skipped:
        log.warning(
            "%d interactions of %s embed a contact without an id (and have no contact_id): the interactions are "
            "loaded, their contacts are not.",
            result.contacts_skipped,
            uri,
        )
    if result.sync:
        log.info("Vendor truth: %s; %d interactions %s.", result.sync, result.removed,
                 "deleted" if on_removed == "delete" else "marked removed")
    return result


def _file_manifests(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each file of a one-file-per-day pull as a manifest of its own: the pull's fields, the file's uri,
    records and window (so that a load brings exactly that day in line with the vendor)."""
    files = manifest["files"]
    if not isinstance(files, list) or not all(isinstance(f, Mapping) and isinstance(f.get("uri"), str) for f in files):
        raise LipsValidationError(f"source manifest 'files' must be a list of objects with a 'uri', got {files!r}")
    shared = {key: value for key, value in manifest.items() if key not in ("files", "destination")}
    return [{**shared, **entry} for entry in files]


# Which key hashed each table's rows, so that files hashed with different keys are not mixed.
PII_KEYS_TABLE = "lips_pii_keys"
PLAINTEXT = "none (no PII policy)"


def _pii_key_of(source: str | ObjectStoragePath | Mapping[str, Any]) -> str | None:
    """A manifest's key fingerprint, PLAINTEXT for a pull without policy, None when nothing is keyed or known."""
    if not isinstance(source, Mapping):
        return None  # a bare URI says nothing about how the file was made
    pii = source.get("pii")
    if not isinstance(pii, Mapping):
        return PLAINTEXT
    fingerprint = pii.get("key_fingerprint")
    return fingerprint if isinstance(fingerprint, str) and fingerprint else None  # a policy that hashes nothing


def _claim_pii_key(
    cursor: Any, dialect: _Dialect, tables: Sequence[str], pii_key: str, uri: str, *, allow_mixed: bool
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


def _resolve_source(
    source: str | ObjectStoragePath | Mapping[str, Any],
) -> tuple[ObjectStoragePath, str, int | None]:
    """Turn any accepted ``source`` into a path, its URI and the record count a manifest promises."""
    from airflow.sdk import ObjectStoragePath

    expected: int | None = None
    if isinstance(source, Mapping):
        records = source.get("records")
        if records is not None and (isinstance(records, bool) or not isinstance(records, int) or records < 0):
            raise LipsValidationError(f"source manifest 'records' must be a non-negative integer, got {records!r}")
        expected = records
        source = source.get("uri")  # type: ignore[assignment]
        if not isinstance(source, (str, ObjectStoragePath)):
            raise LipsValidationError(f"source manifest needs a 'uri' string naming the JSON Lines file, got {source!r}")
    if isinstance(source, ObjectStoragePath):
        return source, str(source), expected
    if isinstance(source, str) and source.strip():
        return ObjectStoragePath(source), source, expected
    raise LipsValidationError(
        "source must be a URI string, an ObjectStoragePath or a manifest dict with 'uri', "
        f"got {type(source).__name__}: {source!r}"
    )


def _get_hook(sql_conn_id: str) -> DbApiHook:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(sql_conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise LipsValidationError(
            f"sql_conn_id {sql_conn_id!r} gives a {type(hook).__name__}, not a SQL (common-sql "
            "DbApiHook) hook; point it at a sqlite or postgres connection"
        )
    return hook


def _get_dialect(hook: DbApiHook, sql_conn_id: str) -> _Dialect:
    # The hook's connection type names the database on every provider version.
    dialect = _DIALECTS.get(hook.conn_type)
    if dialect is None:
        raise LipsValidationError(
            f"sql_conn_id {sql_conn_id!r} is a {hook.conn_type!r} connection; the LIPS warehouse "
            f"load supports {', '.join(sorted(_DIALECTS))}"
        )
    if dialect is _DIALECTS["sqlite"] and sqlite3.sqlite_version_info < (3, 24, 0):
        raise LipsValidationError(f"SQLite {sqlite3.sqlite_version} lacks upsert; 3.24 or newer is needed")
    return dialect


class _Loader:
    """Streams one file into the tables through an open transaction."""

    def __init__(
        self,
        dialect: _Dialect,
        uri: str,
        interactions_table: str,
        contacts_table: str,
        batch_size: int,
        *,
        listed_contacts: bool = False,
        scope: SyncScope | None = None,
        on_removed: str = "mark",
        sync_note: str = "",
    ) -> None:
        self.dialect = dialect
        self.listed_contacts = listed_contacts  # the file holds /contacts records, not interactions
        self.scope = scope  # rows the file speaks for in full, or None
        self.on_removed = on_removed
        self.sync_note = sync_note
        self.uri = uri
        self.interactions_table = interactions_table
        self.contacts_table = contacts_table
        self.batch_size = batch_size
        self.loaded_at = datetime.now(timezone.utc)
        self.rows: dict[str, dict[str, int]] = {}
        # Rows are rewritten only when their content changed (a reload is a true no-op), or
        # when one marked removed is back.
        self.interaction_sql = self._upsert_sql(
            interactions_table,
            _INTERACTION_COLUMNS,
            f"({interactions_table}.raw {dialect.distinct} excluded.raw OR {interactions_table}.removed_at IS NOT NULL)",
        )
        self.contact_sql = self._upsert_sql(
            contacts_table,
            _CONTACT_COLUMNS,
            f"(excluded.version_at, excluded.version_interaction_id) >= "
            f"({contacts_table}.version_at, {contacts_table}.version_interaction_id) "
            f"AND {contacts_table}.raw {dialect.distinct} excluded.raw",
        )

    def load(self, cursor: Any, handle: IO[bytes]) -> LoadResult:
        cursor.execute(self._create_sql(self.contacts_table, _CONTACT_COLUMNS))
        if not self.listed_contacts:
            cursor.execute(self._create_sql(self.interactions_table, _INTERACTION_COLUMNS))
            self._add_missing_columns(cursor, self.interactions_table, _INTERACTION_COLUMNS)
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {self.interactions_table}_occurred_at_idx "
                f"ON {self.interactions_table} (occurred_at)"
            )
        records = skipped = 0
        interaction_ids: set[int] = set()
        contact_ids: set[int] = set()
        interactions: list[dict[str, Any]] = []
        contacts: dict[int, dict[str, Any]] = {}
        first_line = last_line = 0
        interaction: dict[str, Any] | None
        contact: dict[str, Any] | None
        for line_no, record in self._records(handle):
            try:
                if self.listed_contacts:
                    interaction, contact = None, _listed_contact_row(record)
                else:
                    interaction = _interaction_row(record)
                    contact = _contact_row(record, interaction)
                    skipped += contact is None and isinstance(record.get("contact"), Mapping)
            except (ValueError, TypeError) as exc:
                raise LipsBadFileError(f"{self.uri}:{line_no}: {exc}") from exc
            records += 1
            first_line, last_line = first_line or line_no, line_no
            if interaction is not None:
                interaction_ids.add(interaction["id"])
                interactions.append(interaction)
            if contact is not None:
                contact_ids.add(contact["id"])
                kept = contacts.get(contact["id"])
                if kept is None or _version(contact) >= _version(kept):
                    contacts[contact["id"]] = contact
            if max(len(interactions), len(contacts)) >= self.batch_size:
                self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
                interactions, contacts, first_line = [], {}, 0
        if interactions or contacts:
            self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
        removed = 0 if self.scope is None else self._remove_vanished(cursor, self.scope, interaction_ids)
        return LoadResult(
            self.uri, records, len(interaction_ids), len(contact_ids), removed, skipped,
            self.sync_note if self.scope is None else f"synced {self.scope.describe()}",
            rows=self.rows,
        )

    def _add_missing_columns(self, cursor: Any, table: str, columns: Sequence[_Column]) -> None:
        """Bring a table created by an older version up to date (new columns are nullable)."""
        present = self.dialect.columns(cursor, table)
        for column in columns:
            if column.name not in present and not column.not_null:
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {self.dialect.types[column.kind]}")

    def _remove_vanished(self, cursor: Any, scope: SyncScope, kept: set[int]) -> int:
        """Mark (or delete) the scope's rows the file does not hold; return how many."""
        table, ph = self.interactions_table, self.dialect.placeholder
        seen = f"lips_seen_{uuid.uuid4().hex[:12]}"
        cursor.execute(f"CREATE TEMPORARY TABLE {seen} (id {self.dialect.types['bigint']} PRIMARY KEY)")
        ids = sorted(kept)
        for offset in range(0, len(ids), self.batch_size):
            cursor.executemany(f"INSERT INTO {seen} (id) VALUES ({ph})", [(i,) for i in ids[offset : offset + self.batch_size]])
        where = [f"{table}.occurred_at >= {ph}", f"{table}.occurred_at < {ph}"]
        params: list[Any] = [self.dialect.timestamp(scope.start), self.dialect.timestamp(scope.end)]
        for column, values in (("global_master_advertiser_id", scope.advertisers), ("global_master_campaign_id", scope.campaigns)):
            if values:
                where.append(f"{table}.{column} IN ({', '.join([ph] * len(values))})")
                params += values
        where.append(f"NOT EXISTS (SELECT 1 FROM {seen} WHERE {seen}.id = {table}.id)")
        if self.on_removed == "delete":
            cursor.execute(f"DELETE FROM {table} WHERE {' AND '.join(where)}", params)
        else:
            now = self.dialect.timestamp(self.loaded_at)
            cursor.execute(
                f"UPDATE {table} SET removed_at = {ph}, loaded_at = {ph} WHERE removed_at IS NULL AND {' AND '.join(where)}",
                [now, now, *params],
            )
        removed: int = max(cursor.rowcount, 0)
        cursor.execute(f"DROP TABLE {seen}")
        return removed

    def _records(self, handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:  # includes undecodable bytes
                raise LipsBadFileError(f"{self.uri}:{line_no}: not a JSON line: {exc}") from exc
            if not isinstance(record, dict):
                raise LipsBadFileError(
                    f"{self.uri}:{line_no}: expected a JSON object, got {type(record).__name__}"
                )
            yield line_no, record

    def _flush(
        self, cursor: Any, interactions: list[dict[str, Any]], contacts: dict[int, dict[str, Any]], lines: str
    ) -> None:
        for table, sql, columns, rows in (
            (self.interactions_table, self.interaction_sql, _INTERACTION_COLUMNS, interactions),
            (self.contacts_table, self.contact_sql, _CONTACT_COLUMNS, list(contacts.values())),
        ):
            if not rows:
                continue
            params = [self._bind(columns, row) for row in rows]
            try:
                existing = self._count_existing(cursor, table, [row["id"] for row in rows])
                cursor.executemany(sql, params)
            except Exception as exc:
                raise LipsLoadError(
                    f"{self.uri}:{lines}: upserting into {table} failed: {type(exc).__name__}: {exc}"
                ) from exc
            # The upsert only writes rows that changed, and drivers sum executemany's rowcount.
            inserted = len(rows) - existing
            updated = min(max(cursor.rowcount - inserted, 0), existing)
            tally = self.rows.setdefault(table, dict.fromkeys(ROW_OUTCOMES, 0))
            tally["inserted"] += inserted
            tally["updated"] += updated
            tally["unchanged"] += existing - updated

    def _count_existing(self, cursor: Any, table: str, ids: list[int]) -> int:
        """How many of ``ids`` already have a row (in chunks: old SQLite allows 999 parameters)."""
        found = 0
        for offset in range(0, len(ids), 500):
            chunk = ids[offset : offset + 500]
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE id IN ({', '.join([self.dialect.placeholder] * len(chunk))})", chunk
            )
            found += int(cursor.fetchone()[0])
        return found

    def _bind(self, columns: Sequence[_Column], row: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for column in columns:
            value = self.loaded_at if column.name == "loaded_at" else row.get(column.name)
            if value is not None and column.kind == "timestamp":
                value = self.dialect.timestamp(value)
            elif value is not None and column.kind == "json":
                value = _json(value)
            values.append(value)
        return tuple(values)

    def _create_sql(self, table: str, columns: Sequence[_Column]) -> str:
        definitions = ", ".join(
            f"{c.name} {self.dialect.types[c.kind]}"
            + (" NOT NULL" if c.not_null else "")
            + (" PRIMARY KEY" if c.name == "id" else "")
            for c in columns
        )
        return f"CREATE TABLE IF NOT EXISTS {table} ({definitions})"

    def _upsert_sql(self, table: str, columns: Sequence[_Column], only_if: str) -> str:
        names = ", ".join(c.name for c in columns)
        params = ", ".join(self.dialect.param(c.kind) for c in columns)
        updates = ", ".join(f"{c.name} = excluded.{c.name}" for c in columns if c.name != "id")
        return (
            f"INSERT INTO {table} ({names}) VALUES ({params}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {only_if}"
        )


def _interaction_row(record: Mapping[str, Any]) -> dict[str, Any]:
    occurred_at = _timestamp(spelling.occurred_at(record), "occurred_at")
    if occurred_at is None:
        raise ValueError("interaction has no occurred_at")
    contact = record.get("contact")
    contact_id = record.get("contact_id")
    if contact_id is None and isinstance(contact, Mapping):
        contact_id = contact.get("id")
    return {
        "id": _integer(record.get("id"), "id", required=True),
        "contact_id": _integer(contact_id, "contact_id"),
        **{
            name: _text(record.get(name))
            for name in (
                "global_master_advertiser_id",
                "global_master_campaign_id",
                "campaign_name",
                "sub_type",
                "channel",
                "influencing_campaign",
                "display_name",
                "external_source",
                "page_url",
            )
        },
        "event_type": spelling.event_type(record) or _text(record.get("event_type")),
        "refer_type": _text(_first(record, "refer_type", "referrer_type")),
        "refer_source": _text(_first(record, "refer_source", "referrer_source")),
        "occurred_at": occurred_at,
        "created_at": _timestamp(record.get("created_at"), "created_at"),
        "archived_at": _timestamp(record.get("archived_at"), "archived_at"),
        "details": _details(record),
        "raw": record,
    }


def _contact_row(record: Mapping[str, Any], interaction: Mapping[str, Any]) -> dict[str, Any] | None:
    """The embedded contact, versioned by its own update time, else by the interaction's."""
    contact = record.get("contact")
    if contact is None:
        return None
    if not isinstance(contact, Mapping):
        raise TypeError(f"contact must be a JSON object, got {type(contact).__name__}")
    contact_id = _integer(contact.get("id"), "contact.id")
    if contact_id is None:
        contact_id = interaction["contact_id"]
    if contact_id is None:
        return None
    row = _contact_fields(contact, contact_id, "contact.")
    row["version_at"] = row["updated_at"] or interaction["created_at"] or interaction["occurred_at"]
    row["version_interaction_id"] = interaction["id"]
    return row


# A listed contact without any timestamp is older than every versioned one.
_UNKNOWN_VERSION = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _listed_contact_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/contacts`` record, versioned by its update (else creation) time; no interaction: id 0."""
    row = _contact_fields(record, _integer(record.get("id"), "id", required=True), "")
    row["version_at"] = row["updated_at"] or row["created_at"] or _UNKNOWN_VERSION
    row["version_interaction_id"] = 0
    return row


def _contact_fields(contact: Mapping[str, Any], contact_id: int | None, where: str) -> dict[str, Any]:
    """The typed columns and ``raw`` of a contact, wherever it came from."""
    return {
        "id": contact_id,
        **{name: _text(contact.get(name)) for name in ("first_name", "last_name", "email", "company", "title")},
        "phone_numbers": contact.get("phone_numbers"),
        "created_at": _timestamp(contact.get("created_at"), f"{where}created_at"),
        "updated_at": _timestamp(contact.get("updated_at"), f"{where}updated_at"),
        "raw": contact,
    }


def _version(contact: Mapping[str, Any]) -> tuple[Any, int]:
    return contact["version_at"], contact["version_interaction_id"]


def _details(record: Mapping[str, Any]) -> Any:
    """The type-specific object: under the event type's own key, else under a known one."""
    event_type = spelling.event_type(record)
    keys = (event_type, event_type.split("_")[0]) if isinstance(event_type, str) else ()
    for key in (*keys, *_DETAIL_KEYS):
        value = record.get(key)
        if isinstance(value, Mapping):
            return value
    return None


def _first(record: Mapping[str, Any], *keys: str) -> Any:
    return next((record[key] for key in keys if record.get(key) is not None), None)


def _integer(value: Any, field: str, *, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f"{field} must be an integer, got {value!r}")


def _text(value: Any) -> str | None:
    """Text columns take strings as sent; other JSON values keep their JSON spelling."""
    return value if value is None or isinstance(value, str) else _json(value)


def _timestamp(value: Any, field: str) -> datetime | None:
    """An optional timestamp field: absent or empty is NULL, anything unparsable is an error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO 8601 timestamp, got {value!r}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ValueError(f"{field} must be an ISO 8601 timestamp, got {value!r}") from None


def _json(value: Any) -> str:
    # Canonical text, so that an unchanged record compares equal on SQLite too.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
