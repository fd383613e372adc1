"""The daily DAG is wired to keep the warehouse equal to the vendor's truth (the behaviour: tests/transfers/test_vendor_truth.py)."""

from __future__ import annotations

from tests.support import REPO


def test_daily_pulls_take_archived_interactions_and_load_from_the_manifest() -> None:
    from tests.dags.support import DagBag

    daily = DagBag(dag_folder=str(REPO / "airflow_provider_lips" / "example_dags")).dags["lips_contact_interactions_daily"]
    pull, load = daily.get_task("advertiser.pull"), daily.get_task("advertiser.load")
    assert pull.include_archived is True  # without archived interactions a load cannot tell archived from deleted
    assert load.on_removed == "mark"
    # The load gets the pull's manifest (complete, include_archived, window, filters), not a bare URI.
    assert getattr(load.source, "operator", None) is pull
