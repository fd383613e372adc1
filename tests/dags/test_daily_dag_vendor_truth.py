"""The daily DAG is wired to keep the warehouse equal to the vendor's truth (the behaviour: tests/transfers/test_vendor_truth.py)."""

from __future__ import annotations

from typing import Any, cast

from tests.support import REPO


def test_daily_pulls_take_archived_interactions_and_load_from_the_manifest() -> None:
    from tests.dags.support import DagBag

    daily = DagBag(dag_folder=str(REPO / "airflow_provider_lips" / "example_dags")).dags["lips_contact_interactions_daily"]
    batch = cast(Any, daily.get_task("batch")).partial_kwargs  # a mapped operator's arguments
    assert batch["include_archived"] is True  # without archived interactions a load cannot tell archived from deleted
    # Each advertiser's manifest (complete, include_archived, window, filters) is what its load gets, not a bare URI;
    # removed interactions are marked (the load's default).
    assert batch["sql_conn_id"] == "lips_warehouse" and "on_removed" not in (batch.get("load_arguments") or {})
