"""A Parquet lake loads exactly as its JSON Lines twin: same rows in both tables, same vendor-truth sync."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.transfers.contact_interactions_to_sql import LipsContactInteractionsToSqlOperator
from airflow_provider_lips.warehouse import load_contact_interactions
from lips_sandbox import LipsSandbox
from tests.hostile_records import hostile_interactions
from tests.support import Warehouse, context

INTERVAL = datetime(2026, 11, 20, tzinfo=timezone.utc)
GMAID = "USA_1"
# Written by the load at load time: compared by whether they are set, not by value.
LOAD_TIME_COLUMNS = ("removed_at", "loaded_at")


def pull(lake: Path, output_format: str) -> dict[str, Any]:
    operator = LipsContactInteractionsOperator(
        task_id="pull",
        global_master_advertiser_id=GMAID,
        destination=f"file://{lake}/gmaid={GMAID}/occurred_date={{occurred_date}}/contact_interactions.{output_format}",
        lookback="P3D",
        include_archived=True,
    )
    manifest: dict[str, Any] = operator.execute(context(INTERVAL))
    return manifest


def tables(warehouse: Warehouse, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of both tables, every column; load-time columns as 'set or not', JSON decoded."""
    result = {}
    for table in (f"{prefix}_interactions", f"{prefix}_contacts"):
        names = [row[0] for row in warehouse.rows(_columns_sql(warehouse), (table,))]
        rows = warehouse.rows(f"SELECT {', '.join(names)} FROM {table} ORDER BY id")
        result[table.removeprefix(prefix)] = [
            tuple(
                (value is not None) if name in LOAD_TIME_COLUMNS
                else warehouse.json(value) if name in ("raw", "details", "phone_numbers") and value is not None
                else value
                for name, value in zip(names, row, strict=True)
            )
            for row in rows
        ]  # fmt: skip
    return result


def _columns_sql(warehouse: Warehouse) -> str:
    if warehouse.dialect == "sqlite":
        return "SELECT name FROM pragma_table_info(?) ORDER BY name"
    return (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND table_schema = current_schema() ORDER BY column_name"
    )


def load(manifest: dict[str, Any], prefix: str) -> dict[str, Any]:
    operator = LipsContactInteractionsToSqlOperator(
        task_id="load", source=manifest, interactions_table=f"{prefix}_interactions", contacts_table=f"{prefix}_contacts"
    )
    result: dict[str, Any] = operator.execute({})
    # Comparable across the two table pairs and lakes: row counts by table role, no URI.
    result["rows"] = {table.removeprefix(prefix): counts for table, counts in result["rows"].items()}
    del result["uri"]
    return result


def test_parquet_partitions_load_the_same_rows_and_the_same_truth_as_json_lines(
    lips_conn: LipsSandbox, interactions: list[dict], warehouse: Warehouse, tmp_path: Path
) -> None:
    template = next(r for r in interactions if r["global_master_advertiser_id"] == GMAID and r["occurred_at"].startswith("2026-11-18"))
    # PostgreSQL text cannot hold NUL (U+0000), whatever the file format: the records without it.
    for record in hostile_interactions(template, 9_200_000):
        if "\\u0000" not in json.dumps(record):
            lips_conn.insert(record)
    lips_conn.configure(event_type_style="class", occurred_field="occured_at", timestamp_offset_hours=-5)

    first = {fmt: load(pull(tmp_path / f"{fmt}-1", fmt), fmt) for fmt in ("jsonl", "parquet")}
    assert first["jsonl"] == first["parquet"]
    assert first["jsonl"]["interactions"] > 100 and first["jsonl"]["sync"].startswith("synced")
    assert tables(warehouse, "jsonl") == tables(warehouse, "parquet")

    # The vendor archives one interaction and deletes another: both loads follow the truth alike.
    day = lips_conn.truth(global_master_advertiser_id=GMAID, start_date="2026-11-19", end_date="2026-11-19")
    lips_conn.archive(day[0])
    lips_conn.delete(day[1])
    second = {fmt: load(pull(tmp_path / f"{fmt}-2", fmt), fmt) for fmt in ("jsonl", "parquet")}
    assert second["parquet"]["removed"] == second["jsonl"]["removed"] == 1
    snapshot = tables(warehouse, "parquet")
    assert snapshot == tables(warehouse, "jsonl")
    rows = warehouse.rows(f"SELECT id, archived_at, removed_at FROM parquet_interactions WHERE id IN ({day[0]}, {day[1]})")
    states = {row[0]: row for row in rows}
    assert states[day[0]][1] is not None and states[day[0]][2] is None  # archived, still there
    assert states[day[1]][2] is not None  # gone at the vendor: marked removed


def test_a_parquet_file_is_recognised_by_its_content_whatever_its_name(
    lips_conn: LipsSandbox, warehouse: Warehouse, tmp_path: Path
) -> None:
    manifest = pull(tmp_path, "parquet")
    renamed = Path(manifest["files"][-1]["uri"].removeprefix("file://"))
    disguised = renamed.with_name("contact_interactions.jsonl")
    renamed.rename(disguised)
    result = load_contact_interactions(f"file://{disguised}", CONN_ID)
    assert result.interactions == manifest["files"][-1]["records"] > 0
