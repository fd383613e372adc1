"""Real warehouses for the load tests: a SQLite file per test, a PostgreSQL schema per test.

Both are reached the way production reaches them, through an Airflow connection defined
in an environment variable, under the operator's default id ``lips_warehouse``.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from tests.support import PostgresSchema

TABLES = ("lips_contact_interactions", "lips_contacts")

# Shaped like the seed's sample response, plus the fields later API versions add.
_INTERACTION: dict[str, Any] = {
    "id": 4314774,
    "contact_id": 2197617,
    "global_master_advertiser_id": "USA_1",
    "global_master_campaign_id": "USA_3115232",
    "campaign_name": "LSS Test Campaign",
    "channel": "search",
    "refer_type": "UNKNOWN",
    "refer_source": "PAID",
    "influencing_campaign": "",
    "created_at": "2021-09-06T16:18:42.505Z",
    "occurred_at": "2021-09-06T16:16:08.000Z",
    "display_name": "S ELIGIO",
    "event_type": "call",
    "sub_type": None,
    "external_source": "capture",
    "page_url": None,
    "archived_at": None,
    "call": {"duration": 184, "caller_number": "+13184227453", "recording_url": "https://example.invalid/r.mp3"},
    "contact": {
        "id": 2197617,
        "first_name": "S",
        "last_name": "ELIGIO",
        "email": None,
        "company": None,
        "title": None,
        "phone_numbers": [{"phone_type": "work", "phone_number": "+13184227453"}],
        "created_at": "2021-09-04T01:21:27.394Z",
        "contact_external_source": "a6426573-5120-4077-9d71-ac5e7f65bccd",
        "interaction_external_source": "capture",
    },
}


def make_interaction(interaction_id: int, *, contact: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A realistic interaction; ``contact`` entries and ``fields`` override the sample's."""
    record = copy.deepcopy(_INTERACTION)
    record["id"] = interaction_id
    record["contact"].update(contact or {})
    record["contact_id"] = record["contact"]["id"]
    record.update(fields)
    return record


@pytest.fixture
def interaction() -> Callable[..., dict[str, Any]]:
    return make_interaction


@pytest.fixture
def jsonl(tmp_path: Path) -> Callable[[str, Iterable[dict[str, Any] | str]], Path]:
    """Write a JSON Lines file: dicts as JSON, strings verbatim (for broken lines)."""

    def write(name: str, lines: Iterable[dict[str, Any] | str]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
        return path

    return write


@dataclass
class Warehouse:
    """The database behind ``lips_warehouse``, queried with its own driver, not the code under test."""

    dialect: str  # "sqlite" or "postgres"
    connect: Callable[[], Any]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            conn.close()

    def value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        (row,) = self.rows(sql, params)
        return row[0]

    def table_exists(self, table: str) -> bool:
        if self.dialect == "sqlite":
            return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))
        return self.value("SELECT to_regclass(%s) IS NOT NULL", (table,))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]] | None]:
        """Every row of both tables, every column, or None for a missing table."""
        return {t: self.rows(f"SELECT * FROM {t} ORDER BY id") if self.table_exists(t) else None for t in TABLES}

    def json(self, value: Any) -> Any:
        """JSONB arrives decoded from PostgreSQL, JSON text from SQLite."""
        return json.loads(value) if isinstance(value, str) else value

    def utc_text(self, column: str) -> str:
        """SQL rendering a timestamp column through the database's own date functions."""
        if self.dialect == "sqlite":
            return f"strftime('%Y-%m-%d %H:%M:%f', {column})"
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"

    def seconds_between(self, later: str, earlier: str) -> str:
        if self.dialect == "sqlite":
            return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"
        return f"EXTRACT(EPOCH FROM {later} - {earlier})"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        db = tmp_path / "warehouse.db"
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        yield Warehouse("sqlite", lambda: sqlite3.connect(db))
        return
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", schema.connection())
    yield Warehouse("postgres", schema.connect)
