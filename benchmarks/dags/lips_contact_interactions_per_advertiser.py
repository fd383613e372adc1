"""
### LIPS contact interactions, one task group per advertiser (benchmark only)

The daily DAG's shape before batching: one mapped `partition`, `pull` and `load` task instance
per advertiser. Kept for benchmarks/sections/deployment_scale.py, which runs it side by side
with `lips_contact_interactions_daily` (batches); not an example to copy (docs/agency-scale.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from airflow.sdk import DAG, Asset, Param, task, task_group

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow < 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef,assignment,unused-ignore]
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.transfers.contact_interactions_to_sql import LipsContactInteractionsToSqlOperator

CONTACT_INTERACTIONS = Asset("lips_contact_interactions_per_advertiser")

with DAG(
    dag_id="lips_contact_interactions_per_advertiser",
    # Each run covers [day, next day): a cron *interval* timetable, not Airflow 3's point-in-time default.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    params={
        # null allowed: the Trigger dialog requires a param whose type refuses its empty default.
        "advertisers": Param(
            None, type=["null", "array"], items={"type": "string"}, description="gmaids to pull; empty: Variable lips_advertisers"
        ),
        "base_uri": Param(None, type=["null", "string"], description="where partitions go; empty: Variable lips_base_uri"),
        "lookback": Param("P10D", type="string", description="ISO-8601 duration re-pulled before each interval"),
        "pii": Param(
            None,
            type=["null", "string", "object"],
            description="PII policy applied before any byte leaves the pull: null keeps every field; "
            "'pseudonymize' (key: password of connection lips_pii_key), 'drop', or a mapping of field path to keep/drop/hash",
        ),
    },
    tags=["lips", "benchmark"],
    doc_md=__doc__,
) as dag:

    @task
    def advertisers(params: dict[str, Any] | None = None) -> list[str]:
        """The advertiser list, read at run time so that parsing the DAG touches no database."""
        from airflow.sdk import Variable

        chosen = (params or {}).get("advertisers") or Variable.get("lips_advertisers", default=[], deserialize_json=True)
        if not chosen:
            raise ValueError(
                "No advertisers to pull: set the DAG param 'advertisers' or the Variable 'lips_advertisers' "
                'to a JSON list such as ["USA_1", "USA_2"].'
            )
        return [str(gmaid) for gmaid in chosen]

    @task_group
    def advertiser(gmaid: str) -> Any:
        @task
        def partition(gmaid: str, params: dict[str, Any] | None = None) -> str:
            """The advertiser's files, one per occurrence day: the operator fills in {occurred_date}."""
            import os

            from airflow.sdk import Variable

            base = (params or {}).get("base_uri") or Variable.get("lips_base_uri", default="")
            base = base or f"file://{os.environ.get('AIRFLOW_HOME', os.path.expanduser('~/airflow'))}/lips-data"
            return f"{base.rstrip('/')}/gmaid={gmaid}/occurred_date={{occurred_date}}/contact_interactions.jsonl"

        pull = LipsContactInteractionsOperator(
            task_id="pull",
            global_master_advertiser_id=gmaid,
            lookback="{{ params.lookback }}",
            pii="{{ params.pii | tojson }}",
            include_archived=True,
            destination=partition(gmaid),
        )
        LipsContactInteractionsToSqlOperator(task_id="load", source=pull.output)  # type: ignore[arg-type]  # an XComArg resolves to the manifest at run time
        return pull.output

    # all_done: the advertisers whose pull succeeded are published even when another one failed.
    # No retries: when every pull failed there is nothing to wait for.
    @task(outlets=[CONTACT_INTERACTIONS], trigger_rule="all_done", retries=0)
    def publish(manifests: Any, outlet_events: Any = None) -> int:
        """One asset event per run, carrying every pull's manifest: nothing is lost to event timing."""
        from airflow.exceptions import AirflowSkipException

        written = [dict(m) for m in manifests if m]
        if not written:
            raise AirflowSkipException("No pull of this run succeeded: nothing to publish.")
        outlet_events[CONTACT_INTERACTIONS].extra = {"manifests": written}
        return len(written)

    publish(advertiser.expand(gmaid=advertisers()))
