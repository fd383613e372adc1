"""load_contact_interactions against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsBadFileError, LipsLoadError, LipsValidationError
from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.warehouse import LoadResult, load_contact_interactions
from tests.support import Interaction, Jsonl, Warehouse


def load(path: Path, **kwargs: Any) -> LoadResult:
    return load_contact_interactions(path.as_uri(), CONN_ID, **kwargs)


def test_rows_are_the_files_interactions(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    path = jsonl(
        "a.jsonl",
        [
            interaction(1),
            interaction(2, contact={"id": 20}),
            interaction(3, event_type="chat_sales", call=None, chat={"transcript": "hi"}),
        ],
    )

    result = load(path)

    assert result == LoadResult(uri=path.as_uri(), records=3, interactions=3, contacts=2)
    assert warehouse.rows("SELECT id, contact_id FROM lips_contact_interactions ORDER BY id") == [
        (1, 2197617),
        (2, 20),
        (3, 2197617),
    ]
    row = warehouse.rows(
        "SELECT global_master_advertiser_id, global_master_campaign_id, campaign_name, event_type, channel, "
        "refer_type, refer_source, influencing_campaign, display_name, external_source, details "
        "FROM lips_contact_interactions WHERE id = 1"
    )[0]
    assert row[:-1] == ("USA_1", "USA_3115232", "LSS Test Campaign", "call", "search", "UNKNOWN", "PAID", "", "S ELIGIO", "capture")
    assert warehouse.json(row[-1])["duration"] == 184
    assert warehouse.json(warehouse.value("SELECT details FROM lips_contact_interactions WHERE id = 3")) == {
        "transcript": "hi"
    }
    contact = warehouse.rows("SELECT id, first_name, last_name, email, phone_numbers FROM lips_contacts ORDER BY id")
    assert [c[:4] for c in contact] == [(20, "S", "ELIGIO", None), (2197617, "S", "ELIGIO", None)]
    assert warehouse.json(contact[0][4]) == [{"phone_type": "work", "phone_number": "+13184227453"}]


def test_timestamps_are_typed_columns(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    load(jsonl("a.jsonl", [interaction(1), interaction(2, occurred_at="2021-08-25T09:50:34.000-05:00")]))

    text = warehouse.rows(
        f"SELECT {warehouse.utc_text('occurred_at')}, {warehouse.utc_text('created_at')}, "
        f"{warehouse.seconds_between('created_at', 'occurred_at')} FROM lips_contact_interactions WHERE id = 1"
    )
    assert [(a, b, float(s)) for a, b, s in text] == [("2021-09-06 16:16:08.000", "2021-09-06 16:18:42.505", 154.505)]
    assert warehouse.value(f"SELECT {warehouse.utc_text('occurred_at')} FROM lips_contact_interactions WHERE id = 2") == (
        "2021-08-25 14:50:34.000"
    )
    since = "datetime('2021-09-01')" if warehouse.dialect == "sqlite" else "TIMESTAMPTZ '2021-09-01 00:00:00Z'"
    assert warehouse.rows(f"SELECT id FROM lips_contact_interactions WHERE occurred_at >= {since}") == [(1,)]
    if warehouse.dialect == "sqlite":
        declared = {name: kind for _, name, kind, *_ in warehouse.rows("PRAGMA table_info(lips_contact_interactions)")}
        assert declared["occurred_at"] == declared["archived_at"] == "TIMESTAMP"
    else:
        occurred_at = warehouse.value("SELECT occurred_at FROM lips_contact_interactions WHERE id = 1")
        assert occurred_at == datetime(2021, 9, 6, 16, 16, 8, tzinfo=timezone.utc)
        types = dict(
            warehouse.rows(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        )
        assert types["lips_contact_interactions.occurred_at"] == "timestamp with time zone"
        assert types["lips_contacts.version_at"] == "timestamp with time zone"
        assert types["lips_contact_interactions.raw"] == types["lips_contacts.phone_numbers"] == "jsonb"


def test_unknown_fields_kept_and_missing_ones_null(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    full = interaction(1, lead_score={"value": 7, "model": "v2"}, contact={"loyalty_tier": "gold"})
    bare = {"id": "2", "occured_at": "2021-09-06T10:00:00.000Z", "referrer_type": "organic", "referrer_source": "bing.com"}
    load(jsonl("a.jsonl", [full, bare]))

    raw, contact_raw = warehouse.rows(
        "SELECT i.raw, c.raw FROM lips_contact_interactions i JOIN lips_contacts c ON c.id = i.contact_id"
    )[0]
    assert warehouse.json(raw) == full
    assert warehouse.json(contact_raw)["loyalty_tier"] == "gold"
    row = warehouse.rows(
        f"SELECT contact_id, campaign_name, refer_type, refer_source, details, created_at, "
        f"{warehouse.utc_text('occurred_at')} FROM lips_contact_interactions WHERE id = 2"
    )
    assert row == [(None, None, "organic", "bing.com", None, None, "2021-09-06 10:00:00.000")]
    assert warehouse.value("SELECT count(*) FROM lips_contacts") == 1


def test_reloading_a_file_changes_nothing(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    path = jsonl("a.jsonl", [interaction(i, contact={"id": i % 3}) for i in range(1, 8)])
    first = load(path, batch_size=3)
    before = warehouse.snapshot()

    again = load(path, batch_size=3)

    assert again == first
    assert warehouse.snapshot() == before
    assert len(before["lips_contact_interactions"] or ()) == 7


def test_a_later_file_updates_an_interaction(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    load(jsonl("a.jsonl", [interaction(1), interaction(2)]))

    archived = interaction(2, campaign_name="Renamed", archived_at="2021-10-01T00:00:00.000Z")
    load(jsonl("b.jsonl", [archived]))

    rows = warehouse.rows(
        f"SELECT id, campaign_name, {warehouse.utc_text('archived_at')}, raw FROM lips_contact_interactions ORDER BY id"
    )
    assert [r[:3] for r in rows] == [(1, "LSS Test Campaign", None), (2, "Renamed", "2021-10-01 00:00:00.000")]
    assert warehouse.json(rows[1][3]) == archived


@pytest.mark.parametrize("newer_file_first", [False, True], ids=["in-order", "out-of-order"])
def test_newest_contact_version_wins(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl, newer_file_first: bool
) -> None:
    old = jsonl("old.jsonl", [interaction(1, contact={"first_name": "Old", "updated_at": "2021-09-05T00:00:00.000Z"})])
    new = jsonl("new.jsonl", [interaction(2, contact={"first_name": "New", "updated_at": "2021-09-07T00:00:00.000Z"})])

    for path in (new, old) if newer_file_first else (old, new):
        load(path)

    assert warehouse.rows(f"SELECT first_name, {warehouse.utc_text('version_at')} FROM lips_contacts") == [
        ("New", "2021-09-07 00:00:00.000")
    ]
    assert warehouse.value("SELECT count(*) FROM lips_contact_interactions") == 2


def test_newest_contact_wins_within_a_file_and_across_batches(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    # No updated_at: the interaction's created_at dates each contact version.
    def version(interaction_id: int, name: str, created: str) -> dict[str, Any]:
        return interaction(interaction_id, created_at=created, contact={"first_name": name})

    lines = [
        version(1, "A", "2021-09-01T00:00:00.000Z"),
        version(2, "Newest", "2021-09-09T00:00:00.000Z"),
        version(3, "B", "2021-09-02T00:00:00.000Z"),  # second batch, older than the first batch's newest
        version(4, "C", "2021-09-03T00:00:00.000Z"),
        version(5, "D", "2021-09-04T00:00:00.000Z"),
    ]

    result = load(jsonl("a.jsonl", lines), batch_size=2)

    assert (result.interactions, result.contacts) == (5, 1)
    assert warehouse.rows("SELECT id, first_name FROM lips_contacts") == [(2197617, "Newest")]


BAD_LINES = {
    "not-json": '{"id": 99, "occurred_at": ',
    "not-an-object": "[1, 2, 3]",
    "no-id": json.dumps({"occurred_at": "2021-09-06T16:16:08.000Z"}),
    "no-occurred-at": json.dumps({"id": 99, "occurred_at": None}),
    "bad-timestamp": json.dumps({"id": 99, "occurred_at": "yesterday"}),
}


@pytest.mark.parametrize("bad_line", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_leaves_the_tables_as_they_were(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl, bad_line: str
) -> None:
    load(jsonl("good.jsonl", [interaction(1), interaction(2)]))
    before = warehouse.snapshot()
    # Lines 1-4 reach the database in two batches (one update, new rows) before line 5 fails.
    lines = [
        interaction(1, campaign_name="Changed", contact={"first_name": "Changed", "updated_at": "2030-01-01T00:00:00Z"}),
        interaction(3),
        interaction(4, contact={"id": 40}),
        interaction(5),
        bad_line,
        interaction(6),
    ]
    path = jsonl("bad.jsonl", lines)

    with pytest.raises(LipsBadFileError, match=f"^{re.escape(path.as_uri())}:5: "):
        load(path, batch_size=2)

    assert warehouse.snapshot() == before


def test_a_database_error_leaves_the_tables_as_they_were(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    load(jsonl("good.jsonl", [interaction(1)]))
    before = warehouse.snapshot()
    too_big = 2**63  # valid JSON, but no 64-bit integer column takes it
    path = jsonl("bad.jsonl", [interaction(1, campaign_name="Changed"), interaction(2), interaction(3), interaction(too_big)])

    expected = f"^{re.escape(path.as_uri())}:3-4: upserting into lips_contact_interactions failed"
    with pytest.raises(LipsLoadError, match=expected) as info:
        load(path, batch_size=2)

    assert not isinstance(info.value, LipsBadFileError)  # may be transient: Airflow retries apply
    assert warehouse.snapshot() == before


def test_a_failed_first_load_creates_no_tables(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    with pytest.raises(LipsBadFileError, match=":2: "):
        load(jsonl("bad.jsonl", [interaction(1), "{oops"]))

    assert warehouse.snapshot() == {"lips_contact_interactions": None, "lips_contacts": None}


def test_manifest_and_object_storage_path_sources(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    from airflow.sdk import ObjectStoragePath

    path = jsonl("a.jsonl", [interaction(1), interaction(2), interaction(2)])  # a duplicate line
    manifest = {"uri": path.as_uri(), "records": 3, "pages": 1, "window": {"start": "2021-09-06"}}

    assert load_contact_interactions(manifest, CONN_ID) == LoadResult(path.as_uri(), 3, 2, 1)
    assert load_contact_interactions(ObjectStoragePath(path.as_uri()), CONN_ID).interactions == 2
    assert warehouse.value("SELECT count(*) FROM lips_contact_interactions") == 2


def test_a_manifest_promising_other_records_loads_nothing(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    path = jsonl("a.jsonl", [interaction(1), interaction(2)])

    with pytest.raises(LipsBadFileError, match="manifest promises 3 records but the file has 2"):
        load_contact_interactions({"uri": path.as_uri(), "records": 3}, CONN_ID)

    assert warehouse.snapshot() == {"lips_contact_interactions": None, "lips_contacts": None}


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_a_blank_file_creates_empty_tables(warehouse: Warehouse, tmp_path: Path, content: str) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text(content)

    assert load(path) == LoadResult(path.as_uri(), 0, 0, 0)
    assert warehouse.snapshot() == {"lips_contact_interactions": [], "lips_contacts": []}


def test_a_file_larger_than_a_batch(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    lines = [interaction(i, contact={"id": 1_000_000 + i % 97}) for i in range(1, 2501)]

    result = load(jsonl("big.jsonl", lines), batch_size=1000)

    assert (result.records, result.interactions, result.contacts) == (2500, 2500, 97)
    assert warehouse.value("SELECT count(*) FROM lips_contact_interactions") == 2500
    assert {r[0] for r in warehouse.rows("SELECT id FROM lips_contact_interactions")} == set(range(1, 2501))
    assert warehouse.value("SELECT count(*) FROM lips_contacts") == 97


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"interactions_table": "lips; DROP TABLE x"}, "interactions_table must be a plain SQL identifier"),
        ({"contacts_table": "lips_contact_interactions"}, "must differ"),
        ({"source": {"records": 1}}, "manifest needs a 'uri'"),
        ({"source": {"uri": "file:///x.jsonl", "records": "3"}}, "'records' must be a non-negative integer"),
        ({"source": 42}, "source must be a URI string"),
    ],
)
def test_bad_arguments_are_rejected_before_any_work(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"source": "file:///nonexistent.jsonl", "sql_conn_id": "nonexistent", **kwargs}

    with pytest.raises(LipsValidationError, match=message):
        load_contact_interactions(**arguments)


def test_a_connection_without_a_sql_hook_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_FILES", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
    (tmp_path / "a.jsonl").write_text("")

    with pytest.raises(LipsValidationError, match="sql_conn_id 'lips_files' gives a FSHook, not a SQL"):
        load_contact_interactions((tmp_path / "a.jsonl").as_uri(), "lips_files")


def test_an_unsupported_database_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    conn = {"conn_type": "sqlite", "host": str(tmp_path / "w.db")}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    monkeypatch.setattr(SqliteHook, "conn_type", "mysql")  # stands in for any other DbApiHook
    (tmp_path / "a.jsonl").write_text("")

    with pytest.raises(LipsValidationError, match=f"sql_conn_id '{CONN_ID}' is a 'mysql' connection; .* supports postgres, sqlite"):
        load_contact_interactions((tmp_path / "a.jsonl").as_uri(), CONN_ID)
