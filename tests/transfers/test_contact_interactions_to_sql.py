"""LipsContactInteractionsToSqlOperator: argument checks, templating, and a load per database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.transfers.contact_interactions_to_sql import (
    DEFAULT_SQL_CONN_ID,
    LipsContactInteractionsToSqlOperator,
)
from tests.support import Warehouse

if TYPE_CHECKING:
    from airflow.sdk import Context


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, r"batch_size must be a positive integer such as 1000, got 0"),
        ({"batch_size": -5}, r"batch_size must be a positive integer"),
        ({"batch_size": 2.5}, r"batch_size must be a positive integer"),
        ({"batch_size": "lots"}, r"batch_size must be a positive integer .* got 'lots'"),  # "1000" as text is read as 1000
        ({"batch_size": False}, r"batch_size must be a positive integer"),
        ({"sql_conn_id": ""}, r"sql_conn_id must name an Airflow connection, e.g. 'lips_warehouse'"),
        ({"interactions_table": "1st"}, r"interactions_table must be a plain SQL identifier"),
        ({"contacts_table": "public.lips_contacts"}, r"contacts_table must be a plain SQL identifier"),
        ({"contacts_table": "x" * 48}, r"at most 47 characters"),
        ({"contacts_table": "LIPS_CONTACT_INTERACTIONS"}, r"interactions_table and contacts_table must differ"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(LipsValidationError, match=message):
        LipsContactInteractionsToSqlOperator(task_id="load", source="file:///x.jsonl", **kwargs)


def test_defaults_and_templated_source() -> None:
    operator = LipsContactInteractionsToSqlOperator(
        task_id="load", source={"uri": "file:///data/{{ ds }}/interactions.jsonl", "records": 3}
    )

    assert (operator.sql_conn_id, operator.batch_size) == (DEFAULT_SQL_CONN_ID, 1000) == ("lips_warehouse", 1000)
    assert (operator.interactions_table, operator.contacts_table) == ("lips_contact_interactions", "lips_contacts")
    assert "source" in operator.template_fields
    operator.render_template_fields(cast("Context", {"ds": "2021-09-06"}))
    assert operator.source == {"uri": "file:///data/2021-09-06/interactions.jsonl", "records": 3}


def test_execute_loads_the_manifests_file(
    warehouse: Warehouse, interaction: Callable[..., dict[str, Any]], jsonl: Callable[..., Path]
) -> None:
    path = jsonl("a.jsonl", [interaction(1), interaction(2, contact={"id": 5}), interaction(3)])
    manifest = {"uri": path.as_uri(), "records": 3, "pages": 1}
    operator = LipsContactInteractionsToSqlOperator(task_id="load", source=manifest, batch_size=2)

    returned = operator.execute(cast("Context", {}))

    assert returned == {
        "uri": path.as_uri(),
        "interactions": 3,
        "contacts": 2,
        "removed": 0,
        "contacts_skipped": 0,
        "sync": "the manifest does not say the pull was verified complete (see its 'completeness')",
        # Interaction 3's contact is interaction 1's, met again in the second batch: unchanged there.
        "rows": {
            "lips_contact_interactions": {"inserted": 3, "updated": 0, "unchanged": 0},
            "lips_contacts": {"inserted": 2, "updated": 0, "unchanged": 1},
        },
    }
    assert warehouse.rows("SELECT id FROM lips_contact_interactions ORDER BY id") == [(1,), (2,), (3,)]


def test_the_result_counts_inserted_updated_and_unchanged_rows(
    warehouse: Warehouse, interaction: Callable[..., dict[str, Any]], jsonl: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = [interaction(1), interaction(2, contact={"id": 5}), interaction(3, contact={"id": 6})]
    path = jsonl("a.jsonl", first)

    def load() -> dict[str, Any]:
        return LipsContactInteractionsToSqlOperator(task_id="load", source=path.as_uri()).execute(cast("Context", {}))

    assert load()["rows"] == {
        "lips_contact_interactions": {"inserted": 3, "updated": 0, "unchanged": 0},
        "lips_contacts": {"inserted": 3, "updated": 0, "unchanged": 0},
    }
    # A reload is a no-op, and says so.
    with caplog.at_level("INFO", logger="airflow_provider_lips.warehouse"):
        assert load()["rows"] == {
            "lips_contact_interactions": {"inserted": 0, "updated": 0, "unchanged": 3},
            "lips_contacts": {"inserted": 0, "updated": 0, "unchanged": 3},
        }
    assert (
        "lips_contact_interactions: 0 inserted, 0 updated, 3 unchanged; lips_contacts: 0 inserted, 0 updated, 3 unchanged"
        in caplog.text
    )
    # One interaction changed, one new with a known contact, one new with a new contact.
    path = jsonl("b.jsonl", [interaction(1), interaction(2, contact={"id": 5}, campaign_name="renamed"),
                             interaction(4, contact={"id": 6}), interaction(7, contact={"id": 8})])
    assert load()["rows"] == {
        "lips_contact_interactions": {"inserted": 2, "updated": 1, "unchanged": 1},
        "lips_contacts": {"inserted": 1, "updated": 0, "unchanged": 3},
    }


def test_execute_with_custom_tables(
    warehouse: Warehouse, interaction: Callable[..., dict[str, Any]], jsonl: Callable[..., Path]
) -> None:
    path = jsonl("a.jsonl", [interaction(1)])
    operator = LipsContactInteractionsToSqlOperator(
        task_id="load", source=path.as_uri(), interactions_table="crm_events", contacts_table="crm_people"
    )

    assert operator.execute(cast("Context", {})) == {
        "uri": path.as_uri(),
        "interactions": 1,
        "contacts": 1,
        "removed": 0,
        "contacts_skipped": 0,
        "sync": "the source is a file, not a pull's manifest: only a manifest says what the file is complete for",
        "rows": {"crm_events": {"inserted": 1, "updated": 0, "unchanged": 0},
                 "crm_people": {"inserted": 1, "updated": 0, "unchanged": 0}},
    }
    assert warehouse.rows("SELECT id FROM crm_events") == [(1,)]
    assert warehouse.rows("SELECT id FROM crm_people") == [(2197617,)]
    assert not warehouse.table_exists("lips_contact_interactions")
