"""load_contacts: /contacts files into lips_contacts, newest wins together with the interactions' contacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsBadFileError, LipsValidationError
from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.warehouse import LoadResult, load_contact_interactions, load_contacts
from lips_sandbox import LipsSandbox
from tests.support import Interaction, Jsonl, Warehouse, context


def listed(contact_id: int, **fields: Any) -> dict[str, Any]:
    """A contact as GET /contacts lists it."""
    return {
        "id": contact_id,
        "first_name": "Ana",
        "last_name": "Silva",
        "email": "ana@example.com",
        "company": None,
        "title": "Owner",
        "phone_numbers": [{"phone_type": "mobile", "phone_number": "+13184227453"}],
        "created_at": "2021-09-04T01:21:27.394Z",
        "updated_at": "2021-09-05T10:00:00.000Z",
        "global_master_advertiser_id": "USA_1",
        "total_events": 2,
        **fields,
    }


def contacts(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    return warehouse.rows("SELECT id, email, title, version_interaction_id FROM lips_contacts ORDER BY id")


def test_a_contacts_file_upserts_one_row_per_contact_and_a_reload_changes_nothing(
    warehouse: Warehouse, jsonl: Jsonl
) -> None:
    path = jsonl("contacts.jsonl", [listed(1), listed(2, email=None, title=None), listed(3, updated_at=None)])
    result = load_contacts({"uri": path.as_uri(), "records": 3}, CONN_ID)
    assert result == LoadResult(uri=path.as_uri(), records=3, interactions=0, contacts=3)
    assert contacts(warehouse) == [(1, "ana@example.com", "Owner", 0), (2, None, None, 0), (3, "ana@example.com", "Owner", 0)]
    raw = warehouse.json(warehouse.value("SELECT raw FROM lips_contacts WHERE id = 2"))
    assert raw == listed(2, email=None, title=None)
    assert warehouse.value(f"SELECT {warehouse.utc_text('version_at')} FROM lips_contacts WHERE id = 3") == (
        "2021-09-04 01:21:27.394"  # no updated_at: the creation time versions it
    )
    assert not warehouse.table_exists("lips_contact_interactions")  # a contacts load touches one table only
    before = warehouse.snapshot()
    load_contacts(path.as_uri(), CONN_ID)
    assert warehouse.snapshot()["lips_contacts"] == before["lips_contacts"]


@pytest.mark.parametrize("contacts_first", [True, False])
def test_newest_version_wins_across_contacts_and_interaction_files_in_any_order(
    warehouse: Warehouse, jsonl: Jsonl, interaction: Interaction, contacts_first: bool
) -> None:
    listing = jsonl(
        "contacts.jsonl",
        [
            listed(10, email="new@example.com", updated_at="2021-09-08T00:00:00.000Z"),  # newer than the interaction's
            listed(11, email="old@example.com", updated_at="2021-09-01T00:00:00.000Z"),  # older
            listed(12, email="tie@example.com", updated_at="2021-09-06T00:00:00.000Z"),  # the same moment
        ],
    )
    same_moment = {"updated_at": "2021-09-06T00:00:00.000Z"}
    events = jsonl(
        "interactions.jsonl",
        [
            interaction(100, contact={"id": 10, "email": "embedded@example.com", **same_moment}),
            interaction(101, contact={"id": 11, "email": "embedded@example.com", **same_moment}),
            interaction(102, contact={"id": 12, "email": "embedded@example.com", **same_moment}),
        ],
    )
    loads: list[Callable[[], LoadResult]] = [
        lambda: load_contacts(listing.as_uri(), CONN_ID), lambda: load_contact_interactions(events.as_uri(), CONN_ID)
    ]
    for run in loads if contacts_first else loads[::-1]:
        run()
    assert contacts(warehouse) == [
        (10, "new@example.com", "Owner", 0),
        (11, "embedded@example.com", None, 101),
        (12, "embedded@example.com", None, 102),  # a tie goes to the interaction's snapshot
    ]


def test_a_bad_contacts_file_loads_nothing_and_names_the_line(warehouse: Warehouse, jsonl: Jsonl) -> None:
    path = jsonl("bad.jsonl", [listed(1), {"first_name": "no id"}])
    with pytest.raises(LipsBadFileError, match=r"bad\.jsonl:2: id must be an integer"):
        load_contacts(path.as_uri(), CONN_ID)
    with pytest.raises(LipsBadFileError, match="promises 5 records but the file has 1"):
        load_contacts({"uri": jsonl("one.jsonl", [listed(1)]).as_uri(), "records": 5}, CONN_ID)
    assert not warehouse.table_exists("lips_contacts") or warehouse.rows("SELECT id FROM lips_contacts") == []
    with pytest.raises(LipsValidationError, match="contacts_table must be a plain SQL identifier"):
        load_contacts(path.as_uri(), CONN_ID, contacts_table="contacts; DROP TABLE x")


def test_a_pulled_contacts_file_loads_equal_to_the_sandboxs_truth(
    warehouse: Warehouse, lips_conn: LipsSandbox, tmp_path: Path
) -> None:
    from airflow_provider_lips.operators.contacts import LipsContactsOperator

    start, end = datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc)
    target = tmp_path / "contacts.jsonl"
    pull = LipsContactsOperator(task_id="contacts", global_master_advertiser_id="USA_1", destination=f"file://{target}")
    manifest = pull.execute(context(start, end))

    result = load_contacts(manifest, CONN_ID)

    truth = lips_conn.contacts_truth(
        global_master_advertiser_id="USA_1", start_date="2026-09-01T00:00:00.000Z", end_date="2026-09-30T23:59:59.999Z"
    )
    assert result.contacts == result.records == len(truth) > 10
    rows = warehouse.rows("SELECT id, first_name, last_name, email, title, raw FROM lips_contacts ORDER BY id")
    assert [(*row[:5], warehouse.json(row[5])) for row in rows] == [
        (c["id"], c["first_name"], c["last_name"], c["email"], c["title"], c) for c in sorted(truth, key=lambda c: c["id"])
    ]
