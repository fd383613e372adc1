"""
### LIPS contact interactions, loaded when they land

Data-aware alternative to the chained load in `lips_contact_interactions_daily`: scheduled on
the `lips_contact_interactions` asset, it upserts every partition whose pull just finished,
reading the file names from the manifests the pulls attach to their asset events. Useful when
the pull and the warehouse belong to different teams or DAGs. It is paused on creation:
both loads are idempotent upserts, so running it beside the chained load is harmless but
redundant.

Triggered by hand, it loads the manifests given in the run's conf as `{"manifests": [...]}`
(for example to reload a partition).
"""

from __future__ import annotations

from typing import Any

import pendulum

from airflow.sdk import DAG, Asset, task
from airflow_provider_lips.transfers.contact_interactions_to_sql import LipsContactInteractionsToSqlOperator

with DAG(
    dag_id="lips_contact_interactions_load_on_asset",
    schedule=[Asset("lips_contact_interactions")],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["lips"],
    doc_md=__doc__,
) as dag:

    @task
    def manifests(triggering_asset_events: Any = None, dag_run: Any = None) -> list[dict[str, Any]]:
        """The manifests of the pulls that triggered this run (or given in its conf)."""
        given = (dag_run.conf or {}).get("manifests") if dag_run is not None else None
        if given:
            return list(given)
        found = [
            dict(event.extra)
            for events in (triggering_asset_events or {}).values()
            for event in events
            if event.extra and event.extra.get("uri")
        ]
        if not found:
            raise ValueError("No manifest to load: no triggering asset event carried one, and conf has no 'manifests'.")
        return found

    LipsContactInteractionsToSqlOperator.partial(task_id="load").expand(source=manifests())
