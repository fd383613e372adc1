"""
### LIPS contact interactions, once per changed day (Airflow 3.2+)

Each `lips_contact_interactions_daily` run rewrites the day partitions of its lookback window
(eleven days by default) and tells Airflow which: its `publish_days` task adds one partition
key per rewritten day (`YYYY-MM-DD`) to the `lips_contact_interactions` asset event. This DAG
is scheduled with `PartitionedAssetTimetable`, so Airflow creates one run per changed day with
that day as the run's `partition_key`, and a day rewritten by two daily runs runs twice.

`summarize_day` stands for your per-day work (rebuilding a daily aggregate, exporting the
day...): it reads that day's file of every advertiser the event names, JSON Lines or Parquet,
and returns records per advertiser and event type. Paused on creation.

On Airflow 3.1 (no asset partitions) this file defines no DAG; the daily DAG then publishes
its manifest event only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow.sdk import DAG, Asset, task

try:
    from airflow.sdk import PartitionedAssetTimetable
except ImportError:  # Airflow < 3.2: no asset partitions
    PartitionedAssetTimetable = None  # type: ignore[misc,assignment,unused-ignore]

CONTACT_INTERACTIONS = Asset("lips_contact_interactions")

if PartitionedAssetTimetable is not None:
    with DAG(
        dag_id="lips_contact_interactions_per_day",
        # The identity mapper (the default): the daily run's partition key, the day, is this run's.
        schedule=PartitionedAssetTimetable(assets=CONTACT_INTERACTIONS),
        is_paused_upon_creation=True,  # runs come from asset events only: no start date, nothing to catch up
        doc_md=__doc__,
        tags=["lips"],
    ) as dag:

        @task(inlets=[CONTACT_INTERACTIONS])
        def summarize_day(partition_key: str | None = None, triggering_asset_events: Any = None) -> dict[str, Any]:
            """Records per advertiser and event type in the changed day's files (any format the pull wrote)."""
            from airflow.sdk import ObjectStoragePath
            from airflow_provider_lips.pull.records import event_type

            if not partition_key:
                raise ValueError("This run has no partition key: it runs for one day, created by a partitioned asset event.")
            lakes = {
                (base, extra.get("format", "jsonl"))
                for events in (triggering_asset_events or {}).values()
                for event in events
                for extra in [dict(event.extra or {})]
                for base in extra.get("base_uris", ())
            }
            counts: Counter[tuple[str, str]] = Counter()
            for base, output_format in sorted(lakes):
                pattern = f"gmaid=*/occurred_date={partition_key}/contact_interactions.{output_format}"
                for path in ObjectStoragePath(base).glob(pattern):
                    gmaid = path.parent.parent.name.removeprefix("gmaid=")
                    for record in _records(path, output_format):
                        counts[(gmaid, event_type(record) or "unknown")] += 1
            summary: dict[str, Any] = {"day": partition_key, "records": sum(counts.values()), "per_advertiser": {}}
            for (gmaid, kind), count in sorted(counts.items()):
                summary["per_advertiser"].setdefault(gmaid, {})[kind] = count
            return summary

        def _records(path: Any, output_format: str) -> Any:
            """The records of one day file, as the API sent them."""
            import json

            with path.open("rb") as handle:
                if output_format == "parquet":
                    from airflow_provider_lips.output.parquet import read_records

                    yield from read_records(handle)
                else:
                    for line in handle:
                        yield json.loads(line)

        summarize_day()
