"""Streaming one file's records into the warehouse tables through an open transaction, in batches."""

# SQL text built here names only tables checked by schema.check_identifier, or constants;
# values always go as bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsBadFileError, LipsLoadError
from airflow_provider_lips.warehouse.result import ROW_OUTCOMES, LoadResult
from airflow_provider_lips.warehouse.rows import contact_row, interaction_row, listed_contact_row, to_json, version
from airflow_provider_lips.warehouse.schema import CONTACT_COLUMNS, INTERACTION_COLUMNS, Column
from airflow_provider_lips.warehouse.sources import file_records

if TYPE_CHECKING:
    from airflow_provider_lips.warehouse.dialects import Dialect
    from airflow_provider_lips.warehouse.sync import SyncScope

__all__ = ["FileLoader"]


@dataclass(frozen=True)
class _Table:
    """A table a load writes, and the statement that upserts one row into it."""

    name: str
    columns: tuple[Column, ...]
    upsert_sql: str


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
        on_removed: str = "mark",
        sync_note: str = "",
    ) -> None:
        self.dialect = dialect
        self.scope = scope  # rows the file speaks for in full, or None
        self.on_removed = on_removed
        self.sync_note = sync_note
        self.uri = uri
        self.batch_size = batch_size
        self.loaded_at = datetime.now(timezone.utc)
        self.rows: dict[str, dict[str, int]] = {}
        # Rows are rewritten only when their content changed (a reload is a true no-op), or
        # when one marked removed is back.
        self.interactions = None if interactions_table is None else _Table(
            interactions_table,
            INTERACTION_COLUMNS,
            dialect.upsert_sql(
                interactions_table,
                INTERACTION_COLUMNS,
                f"({interactions_table}.raw {dialect.distinct} excluded.raw OR {interactions_table}.removed_at IS NOT NULL)",
            ),
        )
        self.contacts = _Table(
            contacts_table,
            CONTACT_COLUMNS,
            dialect.upsert_sql(
                contacts_table,
                CONTACT_COLUMNS,
                f"(excluded.version_at, excluded.version_interaction_id) >= "
                f"({contacts_table}.version_at, {contacts_table}.version_interaction_id) "
                f"AND {contacts_table}.raw {dialect.distinct} excluded.raw",
            ),
        )

    def load(self, cursor: Any, handle: IO[bytes]) -> LoadResult:
        cursor.execute(self.dialect.create_table_sql(self.contacts.name, CONTACT_COLUMNS))
        if self.interactions is not None:
            table = self.interactions.name
            cursor.execute(self.dialect.create_table_sql(table, INTERACTION_COLUMNS))
            self.dialect.add_missing_columns(cursor, table, INTERACTION_COLUMNS)
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_occurred_at_idx ON {table} (occurred_at)")
            # Each day file's sync (rows of its advertisers and day that the file no longer holds) reads only
            # those rows: without it, every file of a day scanned every advertiser's rows of that day, under the
            # load's table lock (1,000 advertisers: the loads, one after another, set the run's pace).
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_gmaid_occurred_at_idx ON {table} (global_master_advertiser_id, occurred_at)"
            )
        records = skipped = 0
        interaction_ids: set[int] = set()
        contact_ids: set[int] = set()
        interactions: list[dict[str, Any]] = []
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
                interactions.append(interaction)
            if contact is not None:
                contact_ids.add(contact["id"])
                kept = contacts.get(contact["id"])
                if kept is None or version(contact) >= version(kept):
                    contacts[contact["id"]] = contact
            if max(len(interactions), len(contacts)) >= self.batch_size:
                self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
                interactions, contacts, first_line = [], {}, 0
        if interactions or contacts:
            self._flush(cursor, interactions, contacts, f"{first_line}-{last_line}")
        removed = 0
        if self.scope is not None and self.interactions is not None:
            removed = self._remove_vanished(cursor, self.interactions.name, self.scope, interaction_ids)
        return LoadResult(
            self.uri, records, len(interaction_ids), len(contact_ids), removed, skipped,
            self.sync_note if self.scope is None else f"synced {self.scope.describe()}",
            rows=self.rows,
        )

    def _remove_vanished(self, cursor: Any, table: str, scope: SyncScope, kept: set[int]) -> int:
        """Mark (or delete) the scope's rows the file does not hold; return how many."""
        ph = self.dialect.placeholder
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

    def _flush(
        self, cursor: Any, interactions: list[dict[str, Any]], contacts: dict[int, dict[str, Any]], lines: str
    ) -> None:
        for table, rows in ((self.interactions, interactions), (self.contacts, list(contacts.values()))):
            if table is None or not rows:
                continue
            params = [self._bind(table.columns, row) for row in rows]
            try:
                existing = self._count_existing(cursor, table.name, [row["id"] for row in rows])
                cursor.executemany(table.upsert_sql, params)
            except Exception as exc:
                raise LipsLoadError(
                    f"{self.uri}:{lines}: upserting into {table.name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            # The upsert only writes rows that changed, and drivers sum executemany's rowcount.
            inserted = len(rows) - existing
            updated = min(max(cursor.rowcount - inserted, 0), existing)
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
