"""
### LIPS contact interactions, loaded when they land

Data-aware alternative to the chained load in `lips_contact_interactions_daily`: scheduled on
the `lips_contact_interactions` asset, it upserts every file the daily runs wrote, reading
them from the manifests each run's one asset event carries (`{"manifests": [...]}`; several
events that arrive before one run starts are all taken). Useful when the pull and the
warehouse belong to different teams or DAGs. It is paused on creation: both loads are
idempotent upserts, so running it beside the chained load is harmless but redundant.

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

        def carried(extra: Any) -> list[dict[str, Any]]:
            """A daily run's event carries all its manifests; a pull with its own outlet carries one."""
            extra = dict(extra or {})
            if "manifests" in extra:
                return [dict(manifest) for manifest in extra["manifests"]]
            return [extra] if extra.get("uri") or extra.get("files") else []

        found = [m for events in (triggering_asset_events or {}).values() for event in events for m in carried(event.extra)]
        if not found:
            raise ValueError("No manifest to load: no triggering asset event carried one, and conf has no 'manifests'.")
        return found

    LipsContactInteractionsToSqlOperator.partial(task_id="load").expand(source=manifests())
