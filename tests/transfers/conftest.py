"""Real warehouses for the load tests: a SQLite file per test, a PostgreSQL schema per test.

Both are reached the way production reaches them, through an Airflow connection defined
in an environment variable, under the operator's default id ``lips_warehouse``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from tests.support import PostgresSchema, Warehouse, sample_interaction


@pytest.fixture
def interaction() -> Callable[..., dict[str, Any]]:
    """:func:`tests.support.sample_interaction`: a realistic interaction, fields overridden as told."""
    return sample_interaction


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
