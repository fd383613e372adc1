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

CONTACT_INTERACTIONS = Asset("lips_contact_interactions")

with DAG(
    dag_id="lips_contact_interactions_load_on_asset",
    schedule=[CONTACT_INTERACTIONS],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["lips"],
    doc_md=__doc__,
) as dag:

    @task(inlets=[CONTACT_INTERACTIONS])
    def manifests(triggering_asset_events: Any = None, inlet_events: Any = None, dag_run: Any = None) -> list[dict[str, Any]]:
        """The manifests of the runs that triggered this one, and of any event that came in while it was created.

        Airflow (3.3.2 included) keeps one queue row per asset: an event that arrives while the
        scheduler creates this run finds the row taken, which is then deleted, and would wait
        for the next event to be loaded. Taking every event newer than the triggering ones closes
        that gap; a file loaded twice is harmless, the load being an idempotent upsert.
        """
        given = (dag_run.conf or {}).get("manifests") if dag_run is not None else None
        if given:
            return list(given)

        def carried(extra: Any) -> list[dict[str, Any]]:
            """A daily run's event carries all its manifests; a pull with its own outlet carries one."""
            extra = dict(extra or {})
            if "manifests" in extra:
                return [dict(manifest) for manifest in extra["manifests"]]
            return [extra] if extra.get("uri") or extra.get("files") else []

        events = [event for found in (triggering_asset_events or {}).values() for event in found]
        if events and inlet_events is not None:
            newest = max(event.timestamp for event in events)
            later = inlet_events[CONTACT_INTERACTIONS]
            if hasattr(later, "after"):  # Airflow 3.2+: filtered by the API server
                later = later.after(newest.isoformat())
            events += [event for event in later if event.timestamp > newest]
        found = [manifest for event in events for manifest in carried(event.extra)]
        if not found:
            raise ValueError("No manifest to load: no triggering asset event carried one, and conf has no 'manifests'.")
        return found

    LipsContactInteractionsToSqlOperator.partial(task_id="load").expand(source=manifests())
