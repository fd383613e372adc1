"""The upsert of one file: a /contacts file touches the contacts table and nothing else."""

from __future__ import annotations

import io
import json
import sqlite3

from airflow_provider_lips.warehouse.dialects import DIALECTS
from airflow_provider_lips.warehouse.upsert import FileLoader, create_tables


def test_a_contacts_file_writes_only_the_contacts_table() -> None:
    conn = sqlite3.connect(":memory:")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    loader = FileLoader(DIALECTS["sqlite"], "memory://contacts.jsonl", None, "crm_contacts", 10)
    records = [{"id": 7, "email": "a@example.com", "updated_at": "2026-01-02T03:04:05Z"}, {"id": 8}]
    handle = io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())

    create_tables(conn.cursor(), DIALECTS["sqlite"], None, "crm_contacts")
    result = loader.load(conn.cursor(), handle)
    conn.set_trace_callback(None)

    assert (result.records, result.interactions, result.contacts) == (2, 0, 2)
    assert result.rows == {"crm_contacts": {"inserted": 2, "updated": 0, "unchanged": 0}}
    assert [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["crm_contacts"]
    # No statement for an interactions table was built, let alone run.
    assert loader.interactions is None
    assert statements
    assert all("crm_contacts" in sql or sql.strip() == "BEGIN" for sql in statements), statements
