"""LipsContactInteractionsOperator: every LIPS contact interaction of a time window, to XCom or object storage."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from airflow.sdk import BaseOperator
from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.hooks.lips import CONTACT_INTERACTIONS_PATH, MAX_PER_PAGE, LipsHook
from airflow_provider_lips.pull import Completeness, ContactInteractionsPull, PullStats
from airflow_provider_lips.query import ContactInteractionFilters
from airflow_provider_lips.window import TimeWindow, iso_utc

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

DEFAULT_XCOM_MAX_RECORDS = 1000
_COMPLETENESS = ("fail", "warn", "off")
# One compact UTF-8 JSON object per line, keys in the order the API sent them.
_ENCODE_LINES = msgspec.json.Encoder().encode_lines


def parse_lookback(value: Any) -> timedelta:
    """A timedelta, an ISO-8601 duration such as ``P3D``/``PT36H``, or seconds; ``None`` is zero."""
    if value is None or value == "":
        return timedelta(0)
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        import pendulum

        try:
            parsed = pendulum.parse(value.strip())
        except Exception as err:
            raise LipsValidationError(f"lookback={value!r} is not an ISO-8601 duration; use e.g. 'P3D' or 'PT36H'.") from err
        if not isinstance(parsed, timedelta):
            raise LipsValidationError(f"lookback={value!r} is a date, not a duration; use e.g. 'P3D' or 'PT36H'.")
        result = timedelta(seconds=parsed.total_seconds())
    else:
        raise LipsValidationError(f"lookback must be a timedelta or an ISO-8601 duration like 'P3D', got {value!r}.")
    if result < timedelta(0):
        raise LipsValidationError(f"lookback={value!r} is negative; use a positive duration such as 'P3D'.")
    return result


@dataclass(frozen=True)
class _Plan:
    """Everything execute() needs, validated before any request."""

    filters: ContactInteractionFilters
    requested: TimeWindow
    window: TimeWindow
    lookback: timedelta
    destination: ObjectStoragePath | None


class LipsContactInteractionsOperator(BaseOperator):
    """Pull every LIPS contact interaction with ``window_start <= occurred_at < window_end``.

    Without ``destination`` the interactions are the XCom value (up to ``xcom_max_records``).
    With one, they are streamed as JSON Lines to that object-storage path, replaced atomically,
    and the XCom value is a small manifest describing the file.

    :param lips_conn_id: the LIPS connection.
    :param global_master_advertiser_id: one or more gmaids (``USA_1``); this or the campaign id is required.
    :param global_master_campaign_id: one or more gmcids (``USA_3115232``).
    :param phone_numbers: only contacts with these E.164 numbers.
    :param event_types: e.g. ``["call", "form"]``.
    :param channels: e.g. ``["search"]``.
    :param window_start: inclusive start; defaults to the run's ``data_interval_start``.
    :param window_end: exclusive end; defaults to the run's ``data_interval_end``.
    :param lookback: widen the window backwards (ISO-8601 duration or timedelta) to catch late data.
    :param per_page: page size asked for; the server may serve fewer (at most 1000).
    :param destination: a file URI or ObjectStoragePath for JSON Lines output.
    :param completeness: compare with ``/contact_interactions/totals``: ``fail``, ``warn`` or ``off``.
    :param concurrency: pages in flight at once; defaults to the connection's (12).
    :param xcom_max_records: cap on interactions returned through XCom when there is no destination.
    """

    template_fields: Sequence[str] = (
        "global_master_advertiser_id",
        "global_master_campaign_id",
        "phone_numbers",
        "event_types",
        "channels",
        "window_start",
        "window_end",
        "lookback",
        "destination",
    )
    ui_color = "#f5d6a8"

    def __init__(
        self,
        *,
        lips_conn_id: str = LipsHook.default_conn_name,
        global_master_advertiser_id: str | list[str] | None = None,
        global_master_campaign_id: str | list[str] | None = None,
        phone_numbers: str | list[str] | None = None,
        event_types: list[str] | None = None,
        channels: list[str] | None = None,
        window_start: Any = None,
        window_end: Any = None,
        lookback: Any = None,
        per_page: int = 100,
        destination: str | ObjectStoragePath | None = None,
        completeness: Completeness = "fail",
        concurrency: int | None = None,
        xcom_max_records: int = DEFAULT_XCOM_MAX_RECORDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE:
            raise LipsValidationError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {per_page!r}.")
        if completeness not in _COMPLETENESS:
            raise LipsValidationError(f"completeness must be one of {_COMPLETENESS}, got {completeness!r}.")
        if concurrency is not None and (not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1):
            raise LipsValidationError(f"concurrency must be a positive integer or None, got {concurrency!r}.")
        if not isinstance(xcom_max_records, int) or isinstance(xcom_max_records, bool) or xcom_max_records < 0:
            raise LipsValidationError(f"xcom_max_records must be a non-negative integer, got {xcom_max_records!r}.")
        self.lips_conn_id = lips_conn_id
        self.global_master_advertiser_id = global_master_advertiser_id
        self.global_master_campaign_id = global_master_campaign_id
        self.phone_numbers = phone_numbers
        self.event_types = event_types
        self.channels = channels
        self.window_start = window_start
        self.window_end = window_end
        self.lookback = lookback
        self.per_page = per_page
        self.destination = destination
        self.completeness = completeness
        self.concurrency = concurrency
        self.xcom_max_records = xcom_max_records
        self._lineage_source: str | None = None
        self._lineage_output: str | None = None

    def _plan(self, context: Context) -> _Plan:
        """Validate every argument after templating; no request has been sent yet."""
        filters = ContactInteractionFilters.from_values(
            global_master_advertiser_id=self.global_master_advertiser_id,
            global_master_campaign_id=self.global_master_campaign_id,
            phone_numbers=self.phone_numbers,
            event_types=self.event_types,
            channels=self.channels,
        )
        start = self.window_start if self.window_start not in (None, "") else context.get("data_interval_start")
        end = self.window_end if self.window_end not in (None, "") else context.get("data_interval_end")
        if start is None or end is None or (start == end and self.window_start in (None, "")):
            raise LipsValidationError(
                "This run has no data interval to pull (Airflow 3's cron schedules give runs a point in time, "
                "not an interval): schedule the DAG with CronDataIntervalTimetable('@daily', timezone='UTC'), "
                "or set window_start and window_end, e.g. '{{ macros.ds_add(ds, -1) }}' and '{{ ds }}'."
            )
        requested = TimeWindow.from_values(start, end)
        lookback = parse_lookback(self.lookback)
        destination = None
        if self.destination not in (None, ""):
            from airflow_provider_lips.storage import resolve_destination

            destination = resolve_destination(self.destination)
        return _Plan(filters, requested, requested.widened(lookback), lookback, destination)

    def execute(self, context: Context) -> Any:
        plan = self._plan(context)
        hook = LipsHook(self.lips_conn_id)
        settings = hook.settings  # validates the connection before the first request
        self._lineage_source = f"{settings.base_url}{CONTACT_INTERACTIONS_PATH}"
        pull = ContactInteractionsPull(
            hook,
            plan.filters,
            plan.window,
            per_page=self.per_page,
            completeness=self.completeness,
            concurrency=self.concurrency,
        )
        started = time.monotonic()
        try:
            if plan.destination is None:
                return self._pull_to_xcom(pull, plan, started)
            return self._pull_to_storage(pull, plan, plan.destination, context, started)
        finally:
            hook.close()

    def _pull_to_xcom(self, pull: ContactInteractionsPull, plan: _Plan, started: float) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []

        def keep(records: list[dict[str, Any]]) -> None:
            if len(collected) + len(records) > self.xcom_max_records:
                raise LipsValidationError(
                    f"More than xcom_max_records={self.xcom_max_records} interactions in this window, too many for XCom: "
                    f"set destination (e.g. 'file:///data/lips/{{{{ ds }}}}.jsonl' or 's3://conn@bucket/...') "
                    f"to stream them to object storage instead."
                )
            collected.extend(records)

        stats = pull.run(keep)
        self._summarize(stats, stats.lateness_summary(), plan, "XCom", started)
        return collected

    def _pull_to_storage(
        self,
        pull: ContactInteractionsPull,
        plan: _Plan,
        destination: ObjectStoragePath,
        context: Context,
        started: float,
    ) -> dict[str, Any]:
        from airflow_provider_lips.storage import atomic_write

        with atomic_write(destination) as handle:
            stats = pull.run(lambda records: handle.write(_ENCODE_LINES(records)))
        self._lineage_output = str(destination)
        lateness = stats.lateness_summary()
        manifest = self._manifest(stats, lateness, plan, str(destination))
        self._summarize(stats, lateness, plan, str(destination), started)
        self._attach_to_assets(context, manifest)
        return manifest

    def _manifest(self, stats: PullStats, lateness: dict[str, float] | None, plan: _Plan, uri: str) -> dict[str, Any]:
        server_start, server_end = plan.window.server_dates()
        return {
            "uri": uri,
            "records": stats.records,
            "pages": stats.pages,
            **plan.window.as_dict(),
            "requested_window_start": iso_utc(plan.requested.start),
            "requested_window_end": iso_utc(plan.requested.end),
            "lookback_seconds": plan.lookback.total_seconds(),
            "server_start_date": server_start,
            "server_end_date": server_end,
            "filters": plan.filters.as_dict(),
            "duplicates_dropped": stats.duplicates,
            "outside_window_dropped": stats.outside_window,
            "walks": stats.walks,
            "completeness": stats.completeness,
            "lateness_seconds": lateness,
            "source": self._lineage_source,
        }

    def _summarize(
        self, stats: PullStats, lateness: dict[str, float] | None, plan: _Plan, target: str, started: float
    ) -> None:
        self.log.info(
            "Pulled %d interactions with %s <= occurred_at < %s from %d pages (%d walk(s), %d duplicates and "
            "%d outside the window dropped) into %s in %.1fs.",
            stats.records, iso_utc(plan.window.start), iso_utc(plan.window.end), stats.pages, stats.walks,
            stats.duplicates, stats.outside_window, target, time.monotonic() - started,
        )
        if lateness and lateness["p99"] > plan.lookback.total_seconds():
            self.log.warning(
                "p99 lateness (created_at - occurred_at) is %.1f h but lookback is %.1f h: interactions the vendor "
                "ingests late are missed for good. A lookback of %s would have covered 99%% (max seen: %.1f days).",
                lateness["p99"] / 3600, plan.lookback.total_seconds() / 3600,
                _iso_duration(lateness["p99"]), lateness["max"] / 86400,
            )

    def _attach_to_assets(self, context: Context, manifest: dict[str, Any]) -> None:
        """Put the manifest on the asset events of this task's Asset outlets."""
        from airflow.sdk import Asset

        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra = manifest

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Report the LIPS endpoint as input and the written file as output (OpenLineage is optional)."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
            from openlineage.client.event_v2 import Dataset
        except ImportError:
            return None
        from urllib.parse import urlsplit

        def dataset(uri: str | None) -> list[Any]:
            """OpenLineage naming: local files are namespace ``file``, buckets ``s3://bucket`` with a key."""
            if not uri:
                return []
            parts = urlsplit(uri)
            scheme = (parts.scheme or "file").lower()
            authority = parts.netloc.rpartition("@")[2].lower()  # host[:port], without an Airflow conn id
            if scheme in ("file", "local"):
                return [Dataset(namespace="file", name=parts.path)]
            if parts.path and scheme not in ("http", "https"):
                return [Dataset(namespace=f"{scheme}://{authority}", name=parts.path.lstrip("/"))]
            return [Dataset(namespace=f"{scheme}://{authority}", name=parts.path or "/")]

        return OperatorLineage(inputs=dataset(self._lineage_source), outputs=dataset(self._lineage_output))


def _iso_duration(seconds: float) -> str:
    hours = int(-(-seconds // 3600))
    return f"P{hours // 24}DT{hours % 24}H" if hours >= 24 else f"PT{hours}H"
