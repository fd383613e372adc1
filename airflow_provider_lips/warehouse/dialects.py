"""The SQL of each supported database (SQLite, PostgreSQL): what differs, and the statements built from a table spec."""

# SQL text built here names only tables checked by schema.check_identifier, or constants;
# values always go as bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.warehouse.schema import Column, ColumnKind

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["DIALECTS", "Dialect", "dialect_of"]


class Dialect(ABC):
    """What differs between the supported databases; everything else is shared SQL."""

    name: str
    placeholder: str
    types: ClassVar[Mapping[ColumnKind, str]]
    distinct: str  # NULL-safe "differs from" operator
    max_params: int  # bound parameters one statement may take

    def param(self, kind: ColumnKind) -> str:
        return self.placeholder

    def timestamp(self, value: datetime) -> Any:
        return value

    @abstractmethod
    def begin(self, conn: Any, cursor: Any) -> None:
        """Open the load's transaction on a fresh connection."""

    @abstractmethod
    def lock(self, cursor: Any, tables: Sequence[str], rows: Sequence[str] = ()) -> None:
        """Take the transaction's locks: ``tables`` whole, or with ``rows`` (names of row sets, e.g. one
        advertiser's rows of a table) ``tables`` shared and ``rows`` alone exclusively."""

    def deadlocked(self, exc: BaseException) -> bool:
        """Whether ``exc`` (or what it wraps) is the database ending this transaction to break a deadlock."""
        return False

    @abstractmethod
    def columns(self, cursor: Any, table: str) -> set[str]:
        """The column names ``table`` has now (tables made by older versions lack newer ones)."""

    @abstractmethod
    def indexes(self, cursor: Any, table: str) -> set[str]:
        """The index names ``table`` has now."""

    def create_table_sql(self, table: str, columns: Sequence[Column]) -> str:
        definitions = ", ".join(
            f"{c.name} {self.types[c.kind]}"
            + (" NOT NULL" if c.not_null else "")
            + (" PRIMARY KEY" if c.name == "id" else "")
            for c in columns
        )
        return f"CREATE TABLE IF NOT EXISTS {table} ({definitions})"

    def upsert_sql(self, table: str, columns: Sequence[Column], only_if: str, rows: int = 1) -> str:
        """Insert ``rows`` rows (of distinct ids), or update the row with its id when ``only_if`` holds."""
        names = ", ".join(c.name for c in columns)
        params = ", ".join([f"({', '.join(self.param(c.kind) for c in columns)})"] * rows)
        updates = ", ".join(f"{c.name} = excluded.{c.name}" for c in columns if c.name != "id")
        return (
            f"INSERT INTO {table} ({names}) VALUES {params} "
            f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {only_if}"
        )

    def add_missing_columns(self, cursor: Any, table: str, columns: Sequence[Column]) -> None:
        """Bring a table created by an older version up to date (new columns are nullable)."""
        present = self.columns(cursor, table)
        for column in columns:
            if column.name not in present and not column.not_null:
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {self.types[column.kind]}")


class _Sqlite(Dialect):
    name = "sqlite"
    placeholder = "?"
    # INTEGER PRIMARY KEY is SQLite's 64-bit rowid alias; TIMESTAMP columns hold UTC
    # text that sorts chronologically and that date()/julianday() understand.
    types: ClassVar[Mapping[ColumnKind, str]] = {"bigint": "INTEGER", "text": "TEXT", "timestamp": "TIMESTAMP", "json": "TEXT"}
    distinct = "IS NOT"
    max_params = 999  # SQLITE_MAX_VARIABLE_NUMBER before 3.32

    def timestamp(self, value: datetime) -> str:
        utc = value.astimezone(timezone.utc).replace(tzinfo=None)
        return utc.isoformat(sep=" ", timespec="milliseconds")

    def begin(self, conn: Any, cursor: Any) -> None:
        # sqlite3 would otherwise open transactions implicitly and only before DML;
        # IMMEDIATE takes the write lock (the whole database: no other lock is needed) up front instead of
        # failing mid-file.
        conn.isolation_level = None
        cursor.execute("BEGIN IMMEDIATE")

    def columns(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(f"PRAGMA table_info({table})")
        return {row[1] for row in cursor.fetchall()}

    def lock(self, cursor: Any, tables: Sequence[str], rows: Sequence[str] = ()) -> None:
        """Nothing to take: BEGIN IMMEDIATE holds the whole database."""

    def indexes(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(f"PRAGMA index_list({table})")
        return {row[1] for row in cursor.fetchall()}


class _Postgres(Dialect):
    name = "postgres"
    placeholder = "%s"
    types: ClassVar[Mapping[ColumnKind, str]] = {"bigint": "BIGINT", "text": "TEXT", "timestamp": "TIMESTAMPTZ", "json": "JSONB"}
    distinct = "IS DISTINCT FROM"
    max_params = 65535

    def param(self, kind: ColumnKind) -> str:
        # JSON goes over the wire as text; the cast works with psycopg2 and psycopg 3.
        return "CAST(%s AS JSONB)" if kind == "json" else "%s"

    def begin(self, conn: Any, cursor: Any) -> None:
        conn.autocommit = False

    def lock(self, cursor: Any, tables: Sequence[str], rows: Sequence[str] = ()) -> None:
        # Concurrent loads (e.g. mapped tasks) would race on CREATE TABLE IF NOT EXISTS, on claiming a PII key,
        # and on syncing the same advertiser: such loads hold the tables exclusively. A load that needs none of
        # that (see load._rows_only) holds them shared and only its advertisers' rows exclusively, so loads of
        # different advertisers run side by side. Tables before rows, each in sorted order: no two loads wait
        # on each other's advisory locks.
        for table in sorted(tables):
            lock = "pg_advisory_xact_lock_shared" if rows else "pg_advisory_xact_lock"
            cursor.execute(f"SELECT {lock}(%s)", (_lock_key(table),))
        for name in sorted(rows):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(name),))

    def deadlocked(self, exc: BaseException) -> bool:
        # SQLSTATE 40P01 deadlock_detected: psycopg 3 names it sqlstate, psycopg2 pgcode.
        cause: BaseException | None = exc
        while cause is not None:
            if "40P01" in (getattr(cause, "sqlstate", None), getattr(cause, "pgcode", None)):
                return True
            cause = cause.__cause__
        return False

    def indexes(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s", (table.lower(),)
        )
        return {row[0] for row in cursor.fetchall()}

    def columns(self, cursor: Any, table: str) -> set[str]:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table.lower(),),
        )
        return {row[0] for row in cursor.fetchall()}


def _lock_key(name: str) -> int:
    """A stable advisory lock key (64 bits) for a table or row set name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


DIALECTS: dict[str, Dialect] = {d.name: d for d in (_Sqlite(), _Postgres())}


def dialect_of(hook: DbApiHook, sql_conn_id: str) -> Dialect:
    """The dialect of the hook's database, or an error naming the connection when it has none."""
    # The hook's connection type names the database on every provider version.
    dialect = DIALECTS.get(hook.conn_type)
    if dialect is None:
        raise LipsValidationError(
            f"sql_conn_id {sql_conn_id!r} is a {hook.conn_type!r} connection; the LIPS warehouse "
            f"load supports {', '.join(sorted(DIALECTS))}"
        )
    if dialect is DIALECTS["sqlite"] and sqlite3.sqlite_version_info < (3, 24, 0):
        raise LipsValidationError(f"SQLite {sqlite3.sqlite_version} lacks upsert; 3.24 or newer is needed")
    return dialect
