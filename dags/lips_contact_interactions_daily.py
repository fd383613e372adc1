"""
### LIPS contact interactions, daily

For every advertiser (DAG param `advertisers`, else the JSON list in Variable
`lips_advertisers`), one mapped pull writes the interactions that occurred in the run's data
interval, widened backwards by `lookback` to catch what the vendor ingests late, to
`<base_uri>/gmaid=<id>/date=<interval start date>/contact_interactions.jsonl`; then the file is upserted into
the `lips_warehouse` SQL connection. Reruns, catchup and backfills overwrite the same
partition and upsert the same rows, so nothing is duplicated. The pull also takes the
window's archived interactions, so the load keeps the warehouse equal to the vendor's truth:
archived rows get `archived_at`, unarchived ones lose it, and interactions deleted at the
vendor get `removed_at`. One advertiser failing (for example 403) fails only its own pull and load.

`base_uri` (param, else Variable `lips_base_uri`, else `$AIRFLOW_HOME/lips-data`) may be any
object-storage URI Airflow supports, e.g. `s3://aws_default@bucket/lips`. `pii` (param, default
none) switches on a PII policy, e.g. `"pseudonymize"`, whose key is the password of connection
`lips_pii_key`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum

from airflow.sdk import DAG, Asset, Param, task, task_group

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow < 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]
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
        "advertisers": Param(
            [], type="array", items={"type": "string"}, description="gmaids to pull; empty: Variable lips_advertisers"
        ),
        "base_uri": Param("", type="string", description="where partitions go; empty: Variable lips_base_uri"),
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
    def advertisers(params: dict | None = None) -> list[str]:
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
    def advertiser(gmaid: str) -> None:
        @task
        def partition(gmaid: str, data_interval_start: datetime | None = None, params: dict | None = None) -> str:
            """Deterministic per advertiser and interval, so a rerun replaces the same file."""
            import os

            from airflow.sdk import Variable

            base = (params or {}).get("base_uri") or Variable.get("lips_base_uri", default="")
            base = base or f"file://{os.environ.get('AIRFLOW_HOME', os.path.expanduser('~/airflow'))}/lips-data"
            if data_interval_start is None:
                raise ValueError("partition needs the run's data_interval_start")
            day = data_interval_start.date().isoformat()
            return f"{base.rstrip('/')}/gmaid={gmaid}/date={day}/contact_interactions.jsonl"

        pull = LipsContactInteractionsOperator(
            task_id="pull",
            global_master_advertiser_id=gmaid,
            lookback="{{ params.lookback }}",
            pii="{{ params.pii | tojson }}",
            include_archived=True,
            destination=partition(gmaid),
            outlets=[CONTACT_INTERACTIONS],
        )
        LipsContactInteractionsToSqlOperator(task_id="load", source=pull.output)

    advertiser.expand(gmaid=advertisers())
