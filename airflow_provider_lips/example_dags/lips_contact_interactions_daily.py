"""
### LIPS contact interactions, daily

The advertisers (DAG param `advertisers`, else the JSON list in Variable `lips_advertisers`)
are cut into batches of `batch_size` (default 100); one mapped `batch` task instance per batch
pulls its advertisers concurrently under the connection's one rate budget. Each advertiser's
pull takes the interactions that occurred in the run's data interval, widened backwards by
`lookback` to catch what the vendor ingests late, and writes one file per day they occurred on:
`<base_uri>/gmaid=<id>/occurred_date=<YYYY-MM-DD>/contact_interactions.jsonl`. Each file is
replaced with exactly that day's interactions, so partitions never overlap; as each advertiser's
pull lands, its files are upserted into the `lips_warehouse` SQL connection. Reruns, catchup and backfills replace
the same files and upsert the same rows, so nothing is duplicated. The pull also takes the
window's archived interactions, so the load keeps the warehouse equal to the vendor's truth:
archived rows get `archived_at`, unarchived ones lose it, and interactions deleted at the
vendor get `removed_at`.

An advertiser failing (for example 403) does not stop the others: their files land and load,
then its batch fails naming every failed advertiser and why. A retry of the batch pulls only
the failed advertisers on Airflow 3.3+ (the task state store remembers the others), the whole
batch on older Airflow (idempotent). Each batch logs one line per advertiser and pushes the
XCom `advertisers` (one row each: status, records, files, pages, loaded, error).
See docs/agency-scale.md.

After the batches, `publish` emits one `lips_contact_interactions` asset event carrying every
successful pull's manifest, for `lips_contact_interactions_load_on_asset` (paused on creation).
On Airflow 3.2+ `publish_days` also names the day partitions the run rewrote (one partitioned
event per day), for `lips_contact_interactions_per_day`, which runs once per changed day.

`output_format` (param, default `jsonl`) writes the day files as JSON Lines or as Parquet
(`contact_interactions.parquet`, typed columns; needs the `parquet` extra): docs/parquet.md.

Empty params fall back: `advertisers` to the Variable `lips_advertisers`, `base_uri` to the
Variable `lips_base_uri`, else `$AIRFLOW_HOME/lips-data`; any object-storage URI Airflow
supports works, e.g. `s3://aws_default@bucket/lips`. `pii` (param, default none) switches on
a PII policy, e.g. `"pseudonymize"`, whose key is the password of connection `lips_pii_key`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from airflow.sdk import DAG, Asset, Param, XComArg, task

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow < 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef,assignment,unused-ignore]
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow_provider_lips.operators.batch import LipsContactInteractionsBatchOperator
from airflow_provider_lips.output.formats import check_output_format

try:  # Airflow 3.2+: asset partitions
    from airflow.sdk import PartitionedAssetTimetable
except ImportError:
    PartitionedAssetTimetable = None  # type: ignore[misc,assignment,unused-ignore]

CONTACT_INTERACTIONS = Asset("lips_contact_interactions")


def succeeded(manifests: Any) -> list[dict[str, Any]]:
    """Every successful pull's manifest: one list per batch (a failed batch pushes those of its advertisers that succeeded)."""
    return [dict(m) for batch in manifests if batch for m in batch if m]

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
        "batch_size": Param(100, type="integer", minimum=1, description="advertisers per batch task instance"),
        "output_format": Param(
            "jsonl", enum=["jsonl", "parquet"], description="day files as JSON Lines or Parquet (typed columns; docs/parquet.md)"
        ),
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
    def advertisers(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The batches' arguments, read at run time so that parsing the DAG touches no database."""
        import os

        from airflow.sdk import Variable

        params = params or {}
        chosen = params.get("advertisers") or Variable.get("lips_advertisers", default=[], deserialize_json=True)
        if not chosen:
            raise ValueError(
                "No advertisers to pull: set the DAG param 'advertisers' or the Variable 'lips_advertisers' "
                'to a JSON list such as ["USA_1", "USA_2"].'
            )
        base = params.get("base_uri") or Variable.get("lips_base_uri", default="")
        base = base or f"file://{os.environ.get('AIRFLOW_HOME', os.path.expanduser('~/airflow'))}/lips-data"
        # Each advertiser's files, one per occurrence day: the batch fills in {gmaid}, the pull {occurred_date}.
        output_format = check_output_format(params.get("output_format")) or "jsonl"
        destination = f"{base.rstrip('/')}/gmaid={{gmaid}}/occurred_date={{occurred_date}}/contact_interactions.{output_format}"
        gmaids, size = list(dict.fromkeys(str(gmaid) for gmaid in chosen)), int(params.get("batch_size") or 100)
        return [{"advertisers": gmaids[i : i + size], "destination": destination} for i in range(0, len(gmaids), size)]

    batch = LipsContactInteractionsBatchOperator.partial(
        task_id="batch",
        lookback="{{ params.lookback }}",
        pii="{{ params.pii | tojson }}",
        include_archived=True,
        sql_conn_id="lips_warehouse",
        # The grid names each batch by its advertisers.
        map_index_template="{{ task.advertisers | length }} advertisers: {{ task.advertisers[0] }}..{{ task.advertisers[-1] }}",
    ).expand_kwargs(advertisers())

    # all_done: the advertisers whose pull succeeded are published even when another one failed.
    # No retries: when every pull failed there is nothing to wait for.
    @task(outlets=[CONTACT_INTERACTIONS], trigger_rule="all_done", retries=0)
    def publish(manifests: Any, outlet_events: Any = None) -> int:
        """One asset event per run, carrying every pull's manifest: nothing is lost to event timing."""
        from airflow.exceptions import AirflowSkipException

        written = succeeded(manifests)
        if not written:
            raise AirflowSkipException("No pull of this run succeeded: nothing to publish.")
        outlet_events[CONTACT_INTERACTIONS].extra = {"manifests": written}
        return len(written)

    publish(XComArg(batch, key="manifests"))

    if PartitionedAssetTimetable is not None:
        # A second event source of the same asset: Airflow queues partition-aware DAGs for partitioned
        # events only, and other DAGs (the load on asset) for events without a partition key only.
        @task(outlets=[CONTACT_INTERACTIONS], trigger_rule="all_done", retries=0)
        def publish_days(manifests: Any, outlet_events: Any = None) -> list[str]:
            """One partition of the asset per day file this run rewrote: a per-day DAG runs once for each."""
            from airflow.exceptions import AirflowSkipException

            written = succeeded(manifests)
            days = sorted({file["occurred_date"] for manifest in written for file in manifest.get("files", ())})
            if not days:
                raise AirflowSkipException("No day file was written by this run: no partition to publish.")
            event = outlet_events[CONTACT_INTERACTIONS]
            event.add_partitions(days)
            # Small on purpose (one copy per partition): where the day files are, and in which format.
            event.extra = {
                "base_uris": sorted({str(m["destination"]).partition("/gmaid=")[0] for m in written if m.get("destination")}),
                "format": next((m["format"] for m in written if m.get("format")), "jsonl"),
            }
            return days

        publish_days(XComArg(batch, key="manifests"))

    # A leaf after the batches: a failed batch leaves it upstream_failed, so the run shows failed and alerts fire
    # although publish (all_done) succeeded. The scheduler completes an EmptyOperator without a worker.
    batch >> EmptyOperator(task_id="every_advertiser_landed")
