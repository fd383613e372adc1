"""
### LIPS contact interactions, daily

For every advertiser (DAG param `advertisers`, else the JSON list in Variable
`lips_advertisers`), one mapped pull takes the interactions that occurred in the run's data
interval, widened backwards by `lookback` to catch what the vendor ingests late, and writes
one file per day they occurred on:
`<base_uri>/gmaid=<id>/occurred_date=<YYYY-MM-DD>/contact_interactions.jsonl`. Each file is
replaced with exactly that day's interactions, so partitions never overlap; then the files
are upserted into the `lips_warehouse` SQL connection. Reruns, catchup and backfills replace
the same files and upsert the same rows, so nothing is duplicated. The pull also takes the
window's archived interactions, so the load keeps the warehouse equal to the vendor's truth:
archived rows get `archived_at`, unarchived ones lose it, and interactions deleted at the
vendor get `removed_at`. One advertiser failing (for example 403) fails only its own pull and load.

After the pulls, `publish` emits one `lips_contact_interactions` asset event carrying every
pull's manifest, for `lips_contact_interactions_load_on_asset` (paused on creation).

Empty params fall back: `advertisers` to the Variable `lips_advertisers`, `base_uri` to the
Variable `lips_base_uri`, else `$AIRFLOW_HOME/lips-data`; any object-storage URI Airflow
supports works, e.g. `s3://aws_default@bucket/lips`. `pii` (param, default none) switches on
a PII policy, e.g. `"pseudonymize"`, whose key is the password of connection `lips_pii_key`.
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

CONTACT_INTERACTIONS = Asset("lips_contact_interactions")

with DAG(
    dag_id="lips_contact_interactions_daily",
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
    tags=["lips"],
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
