"""Streaming one file's records into the warehouse tables through an open transaction, in batches."""

# SQL text built here names only tables checked by schema.check_identifier, or constants;
# values always go as bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsBadFileError, LipsLoadError
from airflow_provider_lips.warehouse.result import ROW_OUTCOMES, LoadResult
from airflow_provider_lips.warehouse.rows import contact_row, interaction_row, listed_contact_row, to_json, version
from airflow_provider_lips.warehouse.schema import CONTACT_COLUMNS, INTERACTION_COLUMNS, Column
from airflow_provider_lips.warehouse.sources import file_records

if TYPE_CHECKING:
    from airflow_provider_lips.warehouse.dialects import Dialect
    from airflow_provider_lips.warehouse.sync import SyncScope

__all__ = ["FileLoader", "create_tables", "remove_vanished"]


def create_tables(cursor: Any, dialect: Dialect, interactions_table: str | None, contacts_table: str) -> None:
    """Create the tables and indexes a load writes, or bring older ones up to date: once per load's transaction,
    not once per file (a day-partitioned pull has ~11 files an advertiser)."""
    cursor.execute(dialect.create_table_sql(contacts_table, CONTACT_COLUMNS))
    if interactions_table is None:
        return
    table = interactions_table
    cursor.execute(dialect.create_table_sql(table, INTERACTION_COLUMNS))
    dialect.add_missing_columns(cursor, table, INTERACTION_COLUMNS)
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_occurred_at_idx ON {table} (occurred_at)")
    # The sync (rows of its advertisers and window that the pull no longer holds) reads only those rows: without
    # it, every sync scanned every advertiser's rows of its days, under the load's lock.
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {table}_gmaid_occurred_at_idx ON {table} (global_master_advertiser_id, occurred_at)"
    )


def remove_vanished(
    cursor: Any, dialect: Dialect, table: str, synced: Sequence[tuple[SyncScope, set[int]]], *, on_removed: str,
    batch_size: int,
) -> int:
    """Mark (or delete) the rows of the scopes that their files do not hold; return how many.

    Files of the same advertisers and campaigns (an advertiser's day files) are synced by one statement over
    their windows joined, against all their ids: one per advertiser, not one per day, and the same rows.
    """
    ph = dialect.placeholder
    removed = 0
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[SyncScope, set[int]]]] = {}
    for scope, kept in synced:
        groups.setdefault((scope.advertisers, scope.campaigns), []).append((scope, kept))
    now = dialect.timestamp(datetime.now(timezone.utc))
    for (advertisers, campaigns), members in groups.items():
        seen = f"lips_seen_{uuid.uuid4().hex[:12]}"
        cursor.execute(f"CREATE TEMPORARY TABLE {seen} (id {dialect.types['bigint']} PRIMARY KEY)")
        ids = sorted(set().union(*(kept for _, kept in members)))
        step = min(batch_size, dialect.max_params)
        for offset in range(0, len(ids), step):
            chunk = ids[offset : offset + step]
            cursor.execute(f"INSERT INTO {seen} (id) VALUES {', '.join([f'({ph})'] * len(chunk))}", chunk)
        windows = _joined(sorted((scope.start, scope.end) for scope, _ in members))
        where = ["(" + " OR ".join([f"({table}.occurred_at >= {ph} AND {table}.occurred_at < {ph})"] * len(windows)) + ")"]
        params: list[Any] = [dialect.timestamp(moment) for window in windows for moment in window]
        for column, values in (("global_master_advertiser_id", advertisers), ("global_master_campaign_id", campaigns)):
            if values:
                where.append(f"{table}.{column} IN ({', '.join([ph] * len(values))})")
                params += values
        where.append(f"NOT EXISTS (SELECT 1 FROM {seen} WHERE {seen}.id = {table}.id)")
        if on_removed == "delete":
            cursor.execute(f"DELETE FROM {table} WHERE {' AND '.join(where)}", params)
        else:
            cursor.execute(
                f"UPDATE {table} SET removed_at = {ph}, loaded_at = {ph} WHERE removed_at IS NULL AND {' AND '.join(where)}",
                [now, now, *params],
            )
        removed += max(cursor.rowcount, 0)
        cursor.execute(f"DROP TABLE {seen}")
    return removed


def _joined(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted ``[start, end)`` windows with the overlapping or touching ones joined (11 days in a row: one)."""
    joined: list[tuple[datetime, datetime]] = []
    for start, end in windows:
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


@lru_cache(maxsize=256)
def _upsert_sql(dialect: Dialect, table: str, columns: tuple[Column, ...], only_if: str, rows: int) -> str:
    return dialect.upsert_sql(table, columns, only_if, rows)


@dataclass(frozen=True)
class _Table:
    """A table a load writes, and the statement that upserts n rows into it."""

    name: str
    columns: tuple[Column, ...]
    only_if: str  # when an existing row is rewritten
    dialect: Dialect

    def upsert_sql(self, rows: int) -> str:
        return _upsert_sql(self.dialect, self.name, self.columns, self.only_if, rows)


class FileLoader:
    """Streams one file into the tables through an open transaction.

    With ``interactions_table=None`` the file holds ``/contacts`` records and only the
    contacts table is created and written.
    """

    def __init__(
        self,
        dialect: Dialect,
        uri: str,
        interactions_table: str | None,
        contacts_table: str,
        batch_size: int,
        *,
        scope: SyncScope | None = None,
        sync_note: str = "",
    ) -> None:
        self.dialect = dialect
        self.scope = scope  # rows the file speaks for in full (synced by remove_vanished), or None
        self.sync_note = sync_note
        self.uri = uri
        self.batch_size = batch_size
        self.loaded_at = datetime.now(timezone.utc)
        self.rows: dict[str, dict[str, int]] = {}
        self.kept: set[int] = set()  # the interaction ids the file holds, for the sync (remove_vanished)
        # Rows are rewritten only when their content changed (a reload is a true no-op), or
        # when one marked removed is back.
        self.interactions = None if interactions_table is None else _Table(
            interactions_table,
            INTERACTION_COLUMNS,
            f"({interactions_table}.raw {dialect.distinct} excluded.raw OR {interactions_table}.removed_at IS NOT NULL)",
            dialect,
        )
        self.contacts = _Table(
            contacts_table,
            CONTACT_COLUMNS,
            f"(excluded.version_at, excluded.version_interaction_id) >= "
            f"({contacts_table}.version_at, {contacts_table}.version_interaction_id) "
            f"AND {contacts_table}.raw {dialect.distinct} excluded.raw",
            dialect,
        )

    def load(self, cursor: Any, handle: IO[bytes]) -> LoadResult:
        """Upsert the file's rows (the tables exist: :func:`create_tables`); ``kept`` gets its interaction ids."""
        records = skipped = 0
        interaction_ids: set[int] = set()
        contact_ids: set[int] = set()
        interactions: dict[int, dict[str, Any]] = {}
        contacts: dict[int, dict[str, Any]] = {}
        first_line = last_line = 0
        interaction: dict[str, Any] | None
        contact: dict[str, Any] | None
        for line_no, record in file_records(handle, self.uri):
            try:
                if self.interactions is None:
                    interaction, contact = None, listed_contact_row(record)
                else:
                    interaction = interaction_row(record)
                    contact = contact_row(record, interaction)
                    skipped += contact is None and isinstance(record.get("contact"), Mapping)
            except (ValueError, TypeError) as exc:
                raise LipsBadFileError(f"{self.uri}:{line_no}: {exc}") from exc
            records += 1
            first_line, last_line = first_line or line_no, line_no
            if interaction is not None:
                interaction_ids.add(interaction["id"])
                interactions[interaction["id"]] = interaction
            if contact is not None:
                contact_ids.add(contact["id"])
                kept = contacts.get(contact["id"])
                if kept is None or version(contact) >= version(kept):
                    contacts[contact["id"]] = contact
            if max(len(interactions), len(contacts)) >= self.batch_size:
                self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
                interactions, contacts, first_line = {}, {}, 0
        if interactions or contacts:
            self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
        self.kept = interaction_ids
        return LoadResult(
            self.uri, records, len(interaction_ids), len(contact_ids), 0, skipped,
            self.sync_note if self.scope is None else f"synced {self.scope.describe()}",
            rows=self.rows,
        )

    def _flush(
        self, cursor: Any, interactions: dict[int, dict[str, Any]], contacts: dict[int, dict[str, Any]], lines: str
    ) -> None:
        for table, by_id in ((self.interactions, interactions), (self.contacts, contacts)):
            if table is None or not by_id:
                continue
            rows = list(by_id.values())
            written = 0
            try:
                existing = self._count_existing(cursor, table.name, list(by_id))
                # Many rows per statement (as many as the database takes parameters): one round trip, not one a row.
                step = self.dialect.max_params // len(table.columns)
                for offset in range(0, len(rows), step):
                    chunk = rows[offset : offset + step]
                    cursor.execute(
                        table.upsert_sql(len(chunk)), [value for row in chunk for value in self._bind(table.columns, row)]
                    )
                    written += max(cursor.rowcount, 0)
            except Exception as exc:
                raise LipsLoadError(
                    f"{self.uri}:{lines}: upserting into {table.name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            # The upsert only writes rows that changed, and its rowcount counts inserted and updated rows.
            inserted = len(rows) - existing
            updated = min(max(written - inserted, 0), existing)
            tally = self.rows.setdefault(table.name, dict.fromkeys(ROW_OUTCOMES, 0))
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

    def _bind(self, columns: Sequence[Column], row: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for column in columns:
            value = self.loaded_at if column.name == "loaded_at" else row.get(column.name)
            if value is not None and column.kind == "timestamp":
                value = self.dialect.timestamp(value)
            elif value is not None and column.kind == "json":
                value = to_json(value)
            values.append(value)
        return tuple(values)
