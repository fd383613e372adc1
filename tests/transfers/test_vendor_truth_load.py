"""The load keeps the warehouse equal to the vendor's truth for what a complete pull speaks for, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.warehouse import load_contact_interactions
from tests.support import Interaction, Jsonl, Warehouse

IN_WINDOW = "2021-09-06T16:16:08.000Z"
ARCHIVED_AT = "2021-09-08T10:00:00.000Z"


def manifest(path: Path, records: int, **changes: Any) -> dict[str, Any]:
    """A complete pull's manifest for USA_1 over 2021-09-06, live and archived interactions."""
    filters = {"global_master_advertiser_id": ["USA_1"], "global_master_campaign_id": [], "phone_numbers": [],
               "event_types": [], "channels": []}
    return {
        "uri": path.as_uri(),
        "records": records,
        "window_start": "2021-09-06T00:00:00Z",
        "window_end": "2021-09-07T00:00:00Z",
        "filters": {**filters, **changes.pop("filters", {})},
        "include_archived": True,
        "complete": True,
        **changes,
    }


def states(warehouse: Warehouse) -> dict[int, tuple[bool, bool]]:
    """id -> (archived, removed)."""
    rows = warehouse.rows("SELECT id, archived_at, removed_at FROM lips_contact_interactions ORDER BY id")
    return {row[0]: (row[1] is not None, row[2] is not None) for row in rows}


def test_archived_unarchived_vanished_and_back(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    outside = [
        interaction(10, occurred_at="2021-09-05T23:59:59.999Z"),  # before the window
        interaction(11, global_master_advertiser_id="USA_2"),  # another advertiser
    ]
    first = [interaction(1), interaction(2), interaction(3, archived_at=ARCHIVED_AT)]
    load_contact_interactions(jsonl("others.jsonl", outside).as_uri(), CONN_ID)
    load_contact_interactions(manifest(jsonl("d1.jsonl", first), 3), CONN_ID)
    assert states(warehouse) == {1: (False, False), 2: (False, False), 3: (True, False), 10: (False, False), 11: (False, False)}

    # Next day: 1 archived, 3 unarchived, 2 gone (neither live nor archived).
    second = [interaction(1, archived_at=ARCHIVED_AT), interaction(3)]
    result = load_contact_interactions(manifest(jsonl("d2.jsonl", second), 2), CONN_ID)
    assert result.removed == 1 and result.sync.startswith("synced advertiser USA_1")
    assert states(warehouse) == {1: (True, False), 2: (False, True), 3: (False, False), 10: (False, False), 11: (False, False)}
    removed_at = warehouse.value("SELECT removed_at FROM lips_contact_interactions WHERE id = 2")

    # A reload of the same file changes nothing, not even the time of the mark.
    again = load_contact_interactions(manifest(jsonl("d2.jsonl", second), 2), CONN_ID)
    assert again.removed == 0
    assert warehouse.value("SELECT removed_at FROM lips_contact_interactions WHERE id = 2") == removed_at

    # It reappears: the mark is cleared, even though its record did not change.
    back = load_contact_interactions(manifest(jsonl("d3.jsonl", [*second, interaction(2)]), 3), CONN_ID)
    assert back.removed == 0
    assert states(warehouse) == {1: (True, False), 2: (False, False), 3: (False, False), 10: (False, False), 11: (False, False)}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"filters": {"event_types": ["call"]}}, "filtered by event_types"),
        ({"filters": {"phone_numbers": ["+13184227453"]}}, "filtered by phone_numbers"),
        ({"filters": {"channels": ["search"]}}, "filtered by channels"),
        ({"complete": False}, "verified complete"),
        ({"completeness": [{"completeness": "not checkable: fpd"}], "complete": None}, "verified complete"),
        ({"include_archived": False}, "archived rather than deleted"),
        ({"window_start": None}, "no usable window"),
    ],
    ids=["event-types", "phones", "channels", "incomplete", "not-checkable", "no-archived", "no-window"],
)
def test_partial_or_filtered_pulls_never_remove(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl, changes: dict[str, Any], reason: str
) -> None:
    load_contact_interactions(manifest(jsonl("d1.jsonl", [interaction(1), interaction(2)]), 2), CONN_ID)
    result = load_contact_interactions(manifest(jsonl("d2.jsonl", [interaction(1)]), 1, **changes), CONN_ID)
    assert result.removed == 0 and reason in result.sync
    assert states(warehouse) == {1: (False, False), 2: (False, False)}


def test_a_campaign_scope_touches_only_that_campaign(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    rows = [interaction(1), interaction(2, global_master_campaign_id="USA_999")]
    load_contact_interactions(manifest(jsonl("d1.jsonl", rows), 2), CONN_ID)
    scoped = manifest(jsonl("d2.jsonl", []), 0, filters={"global_master_advertiser_id": [], "global_master_campaign_id": ["USA_999"]})
    assert load_contact_interactions(scoped, CONN_ID).removed == 1
    assert states(warehouse) == {1: (False, False), 2: (False, True)}


def test_on_removed_delete_drops_the_rows(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    load_contact_interactions(manifest(jsonl("d1.jsonl", [interaction(1), interaction(2)]), 2), CONN_ID)
    load_contact_interactions(manifest(jsonl("d2.jsonl", [interaction(1)]), 1), CONN_ID)  # 2 marked
    result = load_contact_interactions(manifest(jsonl("d3.jsonl", []), 0), CONN_ID, on_removed="delete")
    assert result.removed == 2 and states(warehouse) == {}
    assert warehouse.rows("SELECT id FROM lips_contacts") == [(2197617,)]  # contacts stay
    with pytest.raises(LipsValidationError, match="on_removed must be 'mark'"):
        load_contact_interactions(manifest(jsonl("d3.jsonl", []), 0), CONN_ID, on_removed="purge")


def test_a_table_from_before_removed_at_gets_the_column(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    load_contact_interactions(jsonl("d0.jsonl", [interaction(1), interaction(2)]).as_uri(), CONN_ID)
    conn = warehouse.connect()
    try:
        conn.cursor().execute("ALTER TABLE lips_contact_interactions DROP COLUMN removed_at")
        conn.commit()
    finally:
        conn.close()
    assert load_contact_interactions(manifest(jsonl("d1.jsonl", [interaction(1)]), 1), CONN_ID).removed == 1
    assert states(warehouse) == {1: (False, False), 2: (False, True)}


def test_documented_record_spellings_load(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl) -> None:
    """Class-style types, occured_at, offsets, extensions, and contacts without id (counted, not loaded)."""
    anonymous = interaction(3, event_type="FormEvent", call=None, form={"message": "hi"})
    anonymous["contact"].pop("id")
    anonymous.pop("contact_id")
    phone = {"phone_type": "work", "phone_number": "+19893643647 x241"}
    crm = interaction(2, event_type="CallEvent", contact={"id": 7, "phone_numbers": [phone]})
    crm["occured_at"] = "2021-09-06T09:16:08.000-07:00"
    del crm["occurred_at"]
    rows = [interaction(1, event_type="ChatSalesEvent"), crm, anonymous]
    result = load_contact_interactions(jsonl("a.jsonl", rows).as_uri(), CONN_ID)
    assert (result.interactions, result.contacts, result.contacts_skipped) == (3, 2, 1)
    typed = warehouse.rows(
        f"SELECT id, event_type, contact_id, {warehouse.utc_text('occurred_at')} FROM lips_contact_interactions ORDER BY id"
    )
    assert typed == [
        (1, "chat_sales", 2197617, "2021-09-06 16:16:08.000"),
        (2, "call", 7, "2021-09-06 16:16:08.000"),
        (3, "form", None, "2021-09-06 16:16:08.000"),
    ]
    assert warehouse.json(warehouse.value("SELECT details FROM lips_contact_interactions WHERE id = 3")) == {"message": "hi"}
    assert warehouse.json(warehouse.value("SELECT raw FROM lips_contact_interactions WHERE id = 2"))["event_type"] == "CallEvent"
    phones = warehouse.json(warehouse.value("SELECT phone_numbers FROM lips_contacts WHERE id = 7"))
    assert phones == [{"phone_type": "work", "phone_number": "+19893643647 x241"}]
