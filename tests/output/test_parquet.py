"""The Parquet file format itself: lossless round trip, typed columns, pinned schema, bounded buffers."""

from __future__ import annotations

import gc
import io
import sys
import threading
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.output.formats import check_output_format, resolve_output_format
from airflow_provider_lips.output.parquet import SINK_BUFFER_BYTES, ParquetFiles, arrow_schema, read_records
from airflow_provider_lips.output.parquet_schema import FIELDS, SCHEMA_FINGERPRINT, SCHEMA_VERSION, Field, describe, fingerprint
from airflow_provider_lips.pull.window import parse_timestamp
from lips_sandbox import generate_interactions
from lips_sandbox.shapes import Presentation, present
from tests.hostile_records import hostile_interactions
from tests.support import DATA_END, DATA_START, REPO, SAMPLE_INTERACTION


def write(records: list[dict[str, Any]], batch: int = 100, **bounds: int) -> bytes:
    buffer = io.BytesIO()
    file = ParquetFiles(**bounds).writer(buffer)
    for start in range(0, len(records), batch):
        file.write(records[start : start + batch])
    file.close()
    return buffer.getvalue()


def read(data: bytes) -> list[dict[str, Any]]:
    return list(read_records(io.BytesIO(data)))


def test_the_schema_cannot_change_without_a_new_version() -> None:
    # Changing FIELDS changes the fingerprint: bump SCHEMA_VERSION and pin the new fingerprint beside it.
    assert (SCHEMA_VERSION, fingerprint()) == (SCHEMA_VERSION, SCHEMA_FINGERPRINT), (
        f"the Parquet schema changed: bump SCHEMA_VERSION and set SCHEMA_FINGERPRINT = {fingerprint()!r}"
    )
    changed = (*FIELDS[:-1], Field("contact", "struct", "x", children=FIELDS[-1].children[:-1]))
    assert fingerprint(changed) != SCHEMA_FINGERPRINT


def test_every_file_says_its_schema_version_and_types_the_documented_fields() -> None:
    data = write([SAMPLE_INTERACTION])
    schema = pq.read_schema(io.BytesIO(data))
    assert schema.metadata[b"lips.schema_version"] == str(SCHEMA_VERSION).encode()
    assert str(schema.field("id").type) == "int64"
    assert str(schema.field("occurred_at").type) == "timestamp[ms, tz=UTC]"
    assert str(schema.field("contact").type.field("phone_numbers").type) == (
        "list<element: struct<phone_type: string, phone_number: string, extra_json: string>>"
    )
    assert schema.equals(arrow_schema(), check_metadata=False)
    assert {row[0] for row in describe()} >= {"contact.phone_numbers[].phone_number", "chat.transcript[].message", "extra_json"}
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_sandbox_records_and_every_documented_spelling_come_back_exactly_as_sent() -> None:
    records = generate_interactions(seed=3, count=3000, start=DATA_START, end=DATA_END)
    variants = [
        Presentation(event_type_style="class", occurred_field="occured_at", contacts_without_id=0.3, phone_extensions=0.3),
        Presentation(timestamp_offset_hours=-8),
    ]
    served = records + [present(record, style) for style in variants for record in records[:500]]
    served.append({**SAMPLE_INTERACTION, "referrer_type": "PAID", "refer_type": "PAID", "occured_at": SAMPLE_INTERACTION["occurred_at"]})
    data = write(served)
    assert read(data) == served
    table = pq.read_table(io.BytesIO(data), columns=["occurred_at", "event_type"])
    # One column each, whatever the spelling: class-style types read as plain, offsets as UTC instants.
    assert set(table.column("event_type").to_pylist()) <= {"call", "form", "chat", "booking"}
    assert table.column("occurred_at").null_count == 0


def test_hostile_text_nested_undocumented_fields_and_odd_types_survive() -> None:
    records = hostile_interactions(generate_interactions(seed=5, count=1, start=DATA_START, end=DATA_END)[0], 9_000_000)
    # Shapes no sandbox serves: a list item that is not an object, an object that is a string, an id as text.
    records.append({"id": "12", "contact": "text", "chat": {"transcript": [{"message": "hi"}, None, "bye"]}, "call": [1]})
    data = write(records, batch=3)
    assert read(data) == records
    row = pq.read_table(io.BytesIO(data)).slice(len(records) - 3, 1).to_pylist()[0]
    assert row["master_advertiser_id"] == 2**62
    assert row["contact"]["id"] == int(records[-3]["contact"]["id"])  # typed for queries; the text kept in extra_json
    assert '"id":"' in row["contact"]["extra_json"]


def test_memory_bounds_cut_row_groups_but_never_records() -> None:
    records = generate_interactions(seed=4, count=5000, start=DATA_START, end=DATA_END)
    data = write(records, row_group_rows=1500, buffer_bytes=1 << 30, convert_rows=400)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.num_rows == 5000 and metadata.num_row_groups == 4
    assert read(data) == records
    small = write(records, buffer_bytes=256 * 1024, convert_rows=500)
    assert pq.ParquetFile(io.BytesIO(small)).metadata.num_row_groups > 4
    assert read(small) == records


def test_the_file_handle_gets_few_large_writes() -> None:
    # Each write to a Python handle takes the GIL from the pull: Arrow's page-sized writes go through a buffer.
    class Counting(io.BytesIO):
        writes = 0

        def write(self, data: Any) -> int:
            Counting.writes += 1
            return super().write(data)

    records = generate_interactions(seed=4, count=3000, start=DATA_START, end=DATA_END)
    handle = Counting()
    file = ParquetFiles(row_group_rows=500, convert_rows=500).writer(handle)
    for start in range(0, len(records), 100):
        file.write(records[start : start + 100])
    file.close()
    data = handle.getvalue()
    assert read(data) == records and pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 6
    assert Counting.writes <= len(data) // SINK_BUFFER_BYTES + 2, Counting.writes


def test_conversions_run_with_the_cycle_collector_off_and_leave_it_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_lips.output.parquet as parquet

    seen: list[bool] = []
    convert = parquet._to_batch_of

    def watched(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return convert(*args)

    monkeypatch.setattr(parquet, "_to_batch_of", watched)
    records = generate_interactions(seed=4, count=300, start=DATA_START, end=DATA_END)
    assert gc.isenabled() and read(write(records, convert_rows=100)) == records
    assert seen == [False] * 3 and gc.isenabled()
    gc.disable()
    try:
        write(records)
        assert not gc.isenabled()  # a process that turned it off keeps it off
    finally:
        gc.enable()


def test_statistics_cover_ids_times_and_event_types_not_text() -> None:
    # What queries filter on gets min/max for pruning; text's would prune nothing and cost time and bytes.
    records = generate_interactions(seed=4, count=500, start=DATA_START, end=DATA_END)
    row_group = pq.ParquetFile(io.BytesIO(write(records))).metadata.row_group(0)
    columns = {row_group.column(i).path_in_schema: row_group.column(i) for i in range(row_group.num_columns)}
    occurred = columns["occurred_at"].statistics
    assert occurred.has_min_max and occurred.min == min(parse_timestamp(record["occurred_at"]) for record in records)
    assert columns["id"].statistics.max == max(record["id"] for record in records)
    assert columns["event_type"].statistics.has_min_max and columns["contact.created_at"].statistics.has_min_max
    assert not columns["contact.email"].is_stats_set and not columns["chat.transcript.list.element.message"].is_stats_set


def test_a_day_without_records_is_a_valid_empty_file() -> None:
    data = write([])
    assert pq.read_table(io.BytesIO(data)).num_rows == 0 and read(data) == []


def test_a_file_of_another_schema_version_fails_clearly() -> None:
    table = pq.read_table(io.BytesIO(write([SAMPLE_INTERACTION])))
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"lips.schema_version": b"0"}), buffer)
    with pytest.raises(LipsValidationError, match="schema version 0, this provider reads version 1"):
        read(buffer.getvalue())


@pytest.mark.parametrize(
    ("output_format", "destination", "expected"),
    [
        (None, "file:///lake/x.parquet", "parquet"),
        (None, "file:///lake/x.jsonl", "jsonl"),
        ("", "file:///lake/x.PARQUET", "parquet"),
        ("jsonl", "file:///lake/x.parquet", "jsonl"),
        ("Parquet", "file:///lake/x.jsonl", "parquet"),
    ],
)
def test_the_argument_overrides_the_suffix(output_format: str | None, destination: str, expected: str) -> None:
    assert resolve_output_format(output_format, destination) == expected


@pytest.mark.parametrize("value", ["csv", "json", 1, ["parquet"]])
def test_an_unknown_format_is_refused_naming_the_parameter(value: object) -> None:
    with pytest.raises(LipsValidationError, match=r"output_format must be one of \['jsonl', 'parquet'\]"):
        check_output_format(value)


def test_parquet_without_a_destination_or_without_pyarrow_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LipsValidationError, match="output_format 'parquet' needs a destination"):
        resolve_output_format("parquet", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(LipsValidationError, match=r"pip install 'airflow-provider-lips\[parquet\]'"):
        resolve_output_format(None, "file:///lake/x.parquet")


def test_timestamps_are_utc_instants_with_milliseconds() -> None:
    record = {**SAMPLE_INTERACTION, "created_at": "2021-09-06T09:18:42.505-07:00"}
    table = pq.read_table(io.BytesIO(write([record])))
    assert table.column("created_at").to_pylist() == [datetime(2021, 9, 6, 16, 18, 42, 505000, tzinfo=timezone.utc)]
    assert read(write([record])) == [record]


def test_the_docs_show_every_column_of_this_schema_version() -> None:
    page = (REPO / "docs" / "parquet.md").read_text()
    assert f"## The schema (version {SCHEMA_VERSION})" in page
    for path, kind, spellings, meaning in describe():
        also = ", ".join(f"`{name}`" for name in spellings.split(", ")) if spellings else ""
        assert f"| `{path}` | {kind} | {also} | {meaning} |" in page, path


def test_a_failed_row_group_write_surfaces_in_the_pull() -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() > 10_000:
                raise OSError(28, "No space left on device")
            return super().write(data)

    records = generate_interactions(seed=6, count=3000, start=DATA_START, end=DATA_END)
    files = ParquetFiles(buffer_bytes=64 * 1024, convert_rows=200)
    file = files.writer(Full())

    def pull() -> None:
        for start in range(0, len(records), 100):
            file.write(records[start : start + 100])
        file.close()

    with pytest.raises(OSError, match="No space left on device"):
        pull()
    file.close()  # as a failed pull's unwinding does: quietly, and the encoding thread ends with the last file
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("lips-parquet")]


def test_records_converted_column_by_column_or_one_by_one_give_the_same_rows() -> None:
    # Regular batches go through Arrow column by column; the per-record path is the reference.
    from airflow_provider_lips.output.parquet import _fast_struct, _record_columns, _to_batch

    records = generate_interactions(seed=6, count=2000, start=DATA_START, end=DATA_END)
    records[0] = {**records[0], "archived_at": None, "notes": None, "contact": {**records[0]["contact"], "email": None}}
    per_record = _record_columns()
    for record in records:
        per_record.append(record)
    expected = _to_batch(per_record)
    columns = _fast_struct(FIELDS, pa.struct(list(arrow_schema())), records)
    assert columns.equals(expected.to_struct_array())
    # Hostile records one at a time: the regular ones go column by column, the others record by record.
    hostile = hostile_interactions(generate_interactions(seed=5, count=1, start=DATA_START, end=DATA_END)[0], 9_000_000)
    assert read(write(hostile, batch=1, convert_rows=1)) == hostile
