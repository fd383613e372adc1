"""Parquet partitions hold exactly what the API sent: read back with pyarrow and with DuckDB over HTTP from the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.output.parquet import read_records, record_from_row
from airflow_provider_lips.output.parquet_schema import SCHEMA_VERSION
from lips_sandbox import LipsSandbox
from lips_sandbox.shapes import present
from tests.hostile_records import hostile_interactions
from tests.support import context, data_requests

INTERVAL = datetime(2026, 11, 20, tzinfo=timezone.utc)
GMAID = "USA_1"
FIRST_DAY, LAST_DAY = date(2026, 11, 17), date(2026, 11, 20)


def pull(lake: Path, suffix: str = "parquet", **kwargs: Any) -> dict[str, Any]:
    operator = LipsContactInteractionsOperator(
        task_id="pull",
        global_master_advertiser_id=GMAID,
        destination=f"file://{lake}/gmaid={GMAID}/occurred_date={{occurred_date}}/contact_interactions.{suffix}",
        lookback="P3D",
        **kwargs,
    )
    result: dict[str, Any] = operator.execute(context(INTERVAL))
    return result


def served_truth(sandbox: LipsSandbox, records: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """occurred_date -> id -> the record as the sandbox serves it now, for every day of the pull."""
    by_id = {record["id"]: record for record in records}
    truth: dict[str, dict[int, dict[str, Any]]] = {}
    for n in range((LAST_DAY - FIRST_DAY).days + 1):
        day = (FIRST_DAY + timedelta(days=n)).isoformat()
        ids = sandbox.truth(global_master_advertiser_id=GMAID, start_date=day, end_date=day)
        truth[day] = {i: present(by_id[i], sandbox.settings.presentation) for i in ids}
    return truth


def pyarrow_lake(lake: Path) -> dict[str, dict[int, dict[str, Any]]]:
    lake_days = {}
    for path in sorted((lake / f"gmaid={GMAID}").glob("occurred_date=*/contact_interactions.parquet")):
        with path.open("rb") as handle:
            lake_days[path.parent.name.removeprefix("occurred_date=")] = {r["id"]: r for r in read_records(handle)}
    return lake_days


def duckdb_lake(lake: Path) -> dict[str, dict[int, dict[str, Any]]]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cursor = connection.execute(
        f"SELECT * FROM read_parquet('{lake}/*/*/*.parquet', hive_partitioning = true) ORDER BY occurred_date, id"
    )
    names = [column[0] for column in cursor.description]
    lake_days: dict[str, dict[int, dict[str, Any]]] = {}
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        assert row["gmaid"] == GMAID
        lake_days.setdefault(str(row["occurred_date"]), {})[row["id"]] = record_from_row(row)
    return lake_days


@pytest.fixture
def hostile(lips_conn: LipsSandbox, interactions: list[dict]) -> list[dict[str, Any]]:
    """The session's interactions plus hostile ones on the pull's days, served with every documented spelling variant."""
    template = next(
        r for r in interactions if r["global_master_advertiser_id"] == GMAID and r["occurred_at"].startswith("2026-11-18")
    )
    extra = hostile_interactions(template, 9_100_000)
    for record in extra:
        lips_conn.insert(record)
    lips_conn.configure(
        event_type_style="class", occurred_field="occured_at", phone_extensions=0.3, contacts_without_id=0.1, timestamp_offset_hours=-5
    )
    return [*interactions, *extra]


def test_every_record_read_back_with_pyarrow_and_duckdb_is_the_record_the_api_sent(
    lips_conn: LipsSandbox, hostile: list[dict[str, Any]], tmp_path: Path
) -> None:
    manifest = pull(tmp_path)
    truth = served_truth(lips_conn, hostile)
    assert sum(len(day) for day in truth.values()) == manifest["records"] > 100
    assert any(i >= 9_100_000 for i in truth["2026-11-18"])  # the hostile records are in the lake
    assert pyarrow_lake(tmp_path) == truth
    assert duckdb_lake(tmp_path) == truth
    assert manifest["format"] == "parquet" and manifest["schema_version"] == SCHEMA_VERSION
    assert [f["uri"].rpartition("/")[2] for f in manifest["files"]] == ["contact_interactions.parquet"] * 4
    assert not list(tmp_path.rglob("*.partial"))


def test_duckdb_counts_per_day_and_event_type_over_the_hive_folders(lips_conn: LipsSandbox, hostile: list[dict], tmp_path: Path) -> None:
    pull(tmp_path)
    counts = duckdb.execute(
        f"SELECT occurred_date, event_type, count(*) FROM read_parquet('{tmp_path}/*/*/*.parquet', hive_partitioning = true) "
        "GROUP BY ALL"
    ).fetchall()
    truth = served_truth(lips_conn, hostile)
    expected = Counter(
        (day, record["event_type"].removesuffix("Event").lower()) for day, records in truth.items() for record in records.values()
    )
    assert {(str(day), kind): n for day, kind, n in counts} == expected
    # The typed columns need no parsing: UTC instants, and occurred_date is their day.
    days = duckdb.execute(
        f"SELECT DISTINCT occurred_date = CAST(timezone('UTC', occurred_at) AS DATE) "
        f"FROM read_parquet('{tmp_path}/*/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert days == [(True,)]


def test_parquet_under_a_pii_policy_holds_exactly_the_json_lines_records(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    pull(tmp_path / "jsonl", suffix="jsonl", pii="drop")
    pull(tmp_path / "parquet", pii="drop")
    for path in sorted((tmp_path / "jsonl").rglob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        parquet = tmp_path / "parquet" / path.relative_to(tmp_path / "jsonl").with_suffix(".parquet")
        with parquet.open("rb") as handle:
            assert list(read_records(handle)) == lines
        assert all("email" not in (line.get("contact") or {}) for line in lines)


def test_the_argument_overrides_the_suffix_and_a_single_file_works_too(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    manifest = pull(tmp_path, suffix="jsonl", output_format="parquet")
    assert manifest["format"] == "parquet"
    assert pq.read_metadata(manifest["files"][0]["uri"].removeprefix("file://")).num_rows == manifest["files"][0]["records"]
    single = LipsContactInteractionsOperator(
        task_id="pull", global_master_advertiser_id=GMAID, destination=f"file://{tmp_path}/one.parquet", output_format="{{ params.f }}"
    )
    single.render_template_fields({"params": {"f": "parquet"}})
    result = single.execute(context(INTERVAL))
    with (tmp_path / "one.parquet").open("rb") as handle:
        assert len(list(read_records(handle))) == result["records"] > 0


def test_a_bad_format_fails_when_the_dag_is_parsed_or_before_any_request(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    with pytest.raises(LipsValidationError, match=r"output_format must be one of \['jsonl', 'parquet'\] or unset"):
        LipsContactInteractionsOperator(task_id="pull", global_master_advertiser_id=GMAID, output_format="csv")
    operator = LipsContactInteractionsOperator(
        task_id="pull", global_master_advertiser_id=GMAID, destination=f"file://{tmp_path}/x.jsonl", output_format="{{ params.f }}"
    )
    operator.render_template_fields({"params": {"f": "avro"}})
    with pytest.raises(LipsValidationError, match=r"output_format must be one of .* got 'avro'"):
        operator.execute(context(INTERVAL))
    assert data_requests(lips_conn) == []
