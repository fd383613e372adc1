"""LipsListOperator: the shared operator for any paged LIPS listing, a window to XCom or object storage.

A listing's operator is a thin subclass: it names its :class:`~airflow_provider_lips.client.endpoints.Endpoint`,
declares the filter arguments the listing accepts beyond advertiser and campaign, and
builds its filters from them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow_provider_lips.client.defaults import MAX_PER_PAGE
from airflow_provider_lips.client.endpoints import Endpoint
from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.client.values import parse_number, whole_or_given
from airflow_provider_lips.exceptions import LipsValidationError, LipsXComLimitError
from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.output.formats import OutputFormat, check_output_format, file_opener, resolve_output_format
from airflow_provider_lips.output.parquet_schema import SCHEMA_VERSION
from airflow_provider_lips.output.partitions import DailyDestination, DailyFiles, daily_destination
from airflow_provider_lips.output.storage import atomic_write, check_storage_connection, resolve_destination
from airflow_provider_lips.pii import DEFAULT_PII_KEY_CONN_ID, Redactor, parse_policy, read_key
from airflow_provider_lips.pull.engine import SHARED_BUDGET_LISTING_PAGES, SHORT_LISTING_PAGES, Completeness, Pull, PullStats
from airflow_provider_lips.pull.progress import DEFAULT_PROGRESS_INTERVAL
from airflow_provider_lips.pull.window import TimeWindow, day_window, iso_duration, iso_utc, parse_lookback

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

DEFAULT_XCOM_MAX_RECORDS = 1000
_COMPLETENESS = ("fail", "warn", "off")


@dataclass(frozen=True)
class _Plan:
    """Everything execute() needs, validated before any request."""

    filters: ContactInteractionFilters
    requested: TimeWindow
    window: TimeWindow
    lookback: timedelta
    destination: ObjectStoragePath | DailyDestination | None
    redactor: Redactor | None  # the compiled PII policy, None: every field as the API sent it
    output_format: OutputFormat


class LipsListOperator(BaseOperator):
    """Pull every record of ``endpoint`` with ``window_start <= <endpoint.time_field> < window_end``.

    Without ``destination`` the records are the XCom value (up to ``xcom_max_records``).
    With one, they are streamed as JSON Lines to that object-storage path, replaced atomically,
    and the XCom value is a small manifest describing the file.

    :param lips_conn_id: the LIPS connection.
    :param global_master_advertiser_id: one or more gmaids (``USA_1``); this or the campaign id is required. A list,
        or one string of comma-separated gmaids (``"USA_1,USA_2"``, as a template renders a joined list): either way
        each gmaid is pulled as a query of its own and the records are merged.
    :param global_master_campaign_id: one or more gmcids (``USA_3115232``).
    :param window_start: inclusive start; defaults to the run's ``data_interval_start``.
    :param window_end: exclusive end; defaults to the run's ``data_interval_end``.
    :param lookback: widen the window backwards (ISO-8601 duration or timedelta) to catch late data.
    :param per_page: page size asked for (1..1000); defaults to the connection's (100). The server may serve fewer.
    :param destination: a file URI or ObjectStoragePath for JSON Lines output (Parquet when it ends in ``.parquet``).
    :param output_format: ``"jsonl"`` or ``"parquet"`` (typed columns, see docs/parquet.md; needs the
        ``parquet`` extra); overrides the destination's suffix. Default: the suffix decides.
    :param completeness: compare with the listing's totals: ``fail``, ``warn`` or ``off``.
    :param concurrency: pages in flight at once; defaults to the connection's (12).
    :param max_bytes_in_flight: most bytes of page bodies held at once; defaults to the connection's
        (64 MiB). Bounds memory for large records (long chat transcripts) whatever the page count.
    :param xcom_max_records: cap on records returned through XCom when there is no destination.
    :param pii: the PII policy applied to every record before it leaves the task: ``None`` (keep
        every field), a preset (``"pseudonymize"``, ``"drop"``) or a mapping from field path to
        ``keep``/``drop``/``hash``; JSON text of either also works (``{{ params.pii | tojson }}``).
    :param pii_key_conn_id: the connection whose password is the HMAC key, read only when the policy hashes.
    :param progress_interval: seconds between the progress lines of a long pull (pages and records done of
        the known total, rates, ETA); a pull shorter than this logs none. Default 10.
    """

    endpoint: ClassVar[Endpoint]
    include_archived: bool = False  # also walk the listing's archived records (archived=true)
    template_fields: Sequence[str] = (
        "global_master_advertiser_id",
        "global_master_campaign_id",
        "window_start",
        "window_end",
        "lookback",
        "destination",
        "pii",
        "output_format",
    )

    def __init__(
        self,
        *,
        lips_conn_id: str = LipsHook.default_conn_name,
        global_master_advertiser_id: str | list[str] | None = None,
        global_master_campaign_id: str | list[str] | None = None,
        window_start: Any = None,
        window_end: Any = None,
        lookback: Any = None,
        per_page: int | None = None,
        destination: str | ObjectStoragePath | None = None,
        completeness: Completeness = "fail",
        concurrency: int | None = None,
        max_bytes_in_flight: int | None = None,
        xcom_max_records: int = DEFAULT_XCOM_MAX_RECORDS,
        pii: str | Mapping[str, str] | None = None,
        pii_key_conn_id: str = DEFAULT_PII_KEY_CONN_ID,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        output_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (isinstance(output_format, str) and "{{" in output_format):
            check_output_format(output_format)  # a literal format fails when the DAG is parsed; a template at run time
        self.output_format = output_format
        if pii is None or isinstance(pii, Mapping) or (isinstance(pii, str) and "{{" not in pii):
            parse_policy(pii, self.endpoint)  # a literal policy fails when the DAG is parsed; a template at run time
        if not isinstance(pii_key_conn_id, str) or not pii_key_conn_id.strip():
            raise LipsValidationError(
                f"pii_key_conn_id must name an Airflow connection, e.g. {DEFAULT_PII_KEY_CONN_ID!r}, got {pii_key_conn_id!r}."
            )
        # Numbers as text ("50", from params or a template) are read as numbers; anything else is refused below.
        per_page, concurrency = whole_or_given(per_page), whole_or_given(concurrency)
        max_bytes_in_flight, xcom_max_records = whole_or_given(max_bytes_in_flight), whole_or_given(xcom_max_records)
        if per_page is not None and (
            not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE
        ):
            raise LipsValidationError(
                f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {per_page!r}; "
                f"leave it unset to use the connection's."
            )
        if completeness not in _COMPLETENESS:
            raise LipsValidationError(f"completeness must be one of {_COMPLETENESS}, got {completeness!r}.")
        if concurrency is not None and (not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1):
            raise LipsValidationError(f"concurrency must be a positive integer or None, got {concurrency!r}.")
        if max_bytes_in_flight is not None and (
            not isinstance(max_bytes_in_flight, int) or isinstance(max_bytes_in_flight, bool) or max_bytes_in_flight < 1
        ):
            raise LipsValidationError(
                f"max_bytes_in_flight must be a positive number of bytes (e.g. 67108864 for 64 MiB) or None for the "
                f"connection's, got {max_bytes_in_flight!r}."
            )
        if not isinstance(xcom_max_records, int) or isinstance(xcom_max_records, bool) or xcom_max_records < 0:
            raise LipsValidationError(f"xcom_max_records must be a non-negative integer, got {xcom_max_records!r}.")
        self.lips_conn_id = lips_conn_id
        self.global_master_advertiser_id = global_master_advertiser_id
        self.global_master_campaign_id = global_master_campaign_id
        self.window_start = window_start
        self.window_end = window_end
        self.lookback = lookback
        self.per_page = per_page
        self.destination = destination
        self.completeness = completeness
        self.concurrency = concurrency
        self.max_bytes_in_flight = max_bytes_in_flight
        self.xcom_max_records = xcom_max_records
        self.pii = pii
        self.pii_key_conn_id = pii_key_conn_id
        interval = parse_number(progress_interval)
        if interval is None or interval < 0:
            raise LipsValidationError(
                f"progress_interval must be a number of seconds (0 or more), got {progress_interval!r}; "
                f"leave it unset for {DEFAULT_PROGRESS_INTERVAL:g}."
            )
        self.progress_interval = interval
        self._lineage_source: str | None = None
        self._lineage_outputs: list[str] = []

    def build_filters(self) -> ContactInteractionFilters:
        """The validated filters of this pull; subclasses add the listing's own filter arguments."""
        return ContactInteractionFilters.from_values(
            global_master_advertiser_id=self.global_master_advertiser_id,
            global_master_campaign_id=self.global_master_campaign_id,
        )

    def _plan(self, context: Context) -> _Plan:
        """Validate every argument after templating; no request has been sent yet."""
        filters = self.build_filters()
        unsupported = sorted(name for name, values in filters.as_dict().items() if values and name not in self.endpoint.filters)
        if unsupported:
            raise LipsValidationError(f"The {self.endpoint.name} listing does not filter by {unsupported}; remove them.")
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
        destination: ObjectStoragePath | DailyDestination | None = None
        window = requested.widened(lookback)
        if self.destination not in (None, ""):
            destination = daily_destination(self.destination) or resolve_destination(self.destination)
            check_storage_connection(self.destination)
            if isinstance(destination, DailyDestination):
                window = window.whole_days()  # each day's file must hold the whole day
        policy = parse_policy(self.pii, self.endpoint)
        redactor = policy.compile(read_key(self.pii_key_conn_id) if policy.hashes else None) if policy else None
        output_format = resolve_output_format(self.output_format, self.destination)
        return _Plan(filters, requested, window, lookback, destination, redactor, output_format)

    def execute(self, context: Context) -> Any:
        return self.pull_with(context)

    def pull_with(self, context: Context, hook: LipsHook | None = None) -> Any:
        """What ``execute`` does; with ``hook``, on that hook, left open: a batch of pulls shares one session
        and one rate budget (:class:`~airflow_provider_lips.operators.batch.LipsContactInteractionsBatchOperator`)."""
        plan = self._plan(context)
        owned = hook is None
        hook = hook or LipsHook(
            self.lips_conn_id,
            per_page=self.per_page,
            concurrency=self.concurrency,
            max_bytes_in_flight=self.max_bytes_in_flight,
        )
        settings = hook.settings  # validates the connection before the first request
        self._lineage_source = f"{settings.base_url}{self.endpoint.path}"
        hook.requester.quote_bodies = plan.redactor is None
        pull = Pull(
            hook,
            self.endpoint,
            plan.filters,
            plan.window,
            completeness=self.completeness,
            include_archived=self.include_archived,
            redactor=plan.redactor,
            progress_interval=self.progress_interval,
            # Sharing the hook, other pulls keep the rate budget busy: walking one page at a time costs no throughput.
            descending_pages=SHORT_LISTING_PAGES if owned else SHARED_BUDGET_LISTING_PAGES,
        )
        started = time.monotonic()
        try:
            # Connects the shared rate budget: an unreachable Redis fails here, before any request.
            budget = hook.rate_limiter
            self.log.info("Requests draw from the rate budget in %s.", getattr(budget, "where", "this process"))
            if plan.destination is None:
                return self._pull_to_xcom(pull, plan, started)
            return self._pull_to_storage(pull, plan, plan.destination, context, started)
        finally:
            if owned:
                hook.close()

    def _pull_to_xcom(self, pull: Pull, plan: _Plan, started: float) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []

        def keep(records: list[dict[str, Any]]) -> None:
            if len(collected) + len(records) > self.xcom_max_records:
                raise LipsXComLimitError(
                    f"More than xcom_max_records={self.xcom_max_records} {self.endpoint.name} in this window, too many "
                    f"for XCom: set destination (e.g. 'file:///data/lips/{{{{ ds }}}}.jsonl' or "
                    f"'s3://conn@bucket/...') to stream them to object storage instead."
                )
            collected.extend(records)

        stats = pull.run(keep)
        self._summarize(stats, stats.lateness_summary(), plan, "XCom", started)
        return collected

    def _pull_to_storage(
        self, pull: Pull, plan: _Plan, destination: ObjectStoragePath | DailyDestination, context: Context, started: float
    ) -> dict[str, Any]:
        files: list[dict[str, Any]] | None = None
        if isinstance(destination, DailyDestination):
            with DailyFiles(destination, plan.window.days(), self.endpoint.time_field, file_opener(plan.output_format)) as daily:
                stats = pull.run(daily.write)
            files = [
                {"uri": uri, "occurred_date": day.isoformat(), "records": count, **day_window(day).as_dict()}
                for day, uri, count in daily.files()
            ]
        else:
            with atomic_write(destination) as handle:
                output = file_opener(plan.output_format)(handle)
                stats = pull.run(output.write)
                output.close()
        self._lineage_outputs = [file["uri"] for file in files] if files is not None else [str(destination)]
        lateness = stats.lateness_summary()
        manifest = self._manifest(stats, lateness, plan, str(destination))
        if files is not None:
            # No single "uri": a load takes the files, each a manifest of its own over its own day.
            del manifest["uri"]
            manifest.update(destination=str(destination), files=files)
        self._summarize(stats, lateness, plan, str(destination), started)
        for file in files or ():
            self.log.info("  %s: %d %s", file["uri"], file["records"], self.endpoint.name)
        self._attach_to_assets(context, manifest)
        return manifest

    def _manifest(self, stats: PullStats, lateness: dict[str, float] | None, plan: _Plan, uri: str) -> dict[str, Any]:
        server_start, server_end = plan.window.server_dates()
        return {
            "uri": uri,
            "records": stats.records,
            "live_records": stats.records - stats.archived,
            "archived_records": stats.archived,
            "include_archived": self.include_archived,
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
            # The file holds everything the filters select in the window (what a load may sync on).
            "complete": stats.complete,
            "lateness_seconds": lateness,
            "source": self._lineage_source,
            "pii": plan.redactor.describe() if plan.redactor else None,
            "format": plan.output_format,
            "schema_version": SCHEMA_VERSION if plan.output_format == "parquet" else None,
        }

    def _summarize(
        self, stats: PullStats, lateness: dict[str, float] | None, plan: _Plan, target: str, started: float
    ) -> None:
        self.log.info(
            "Pulled %d %s with %s <= %s < %s (%d archived) from %d pages (%d walk(s), %d duplicates and "
            "%d outside the window dropped) into %s in %.1fs.",
            stats.records, self.endpoint.name, iso_utc(plan.window.start), self.endpoint.time_field,
            iso_utc(plan.window.end), stats.archived, stats.pages, stats.walks, stats.duplicates, stats.outside_window, target,
            time.monotonic() - started,
        )
        if plan.redactor:
            self.log.info(
                "PII policy %r applied to every record (key %s).",
                plan.redactor.policy.spec, plan.redactor.key_fingerprint or "not needed",
            )
        if lateness and lateness["p99"] > plan.lookback.total_seconds():
            self.log.warning(
                "p99 lateness (created_at - occurred_at) is %.1f h but lookback is %.1f h: interactions the vendor "
                "ingests late are missed for good. A lookback of %s would have covered 99%% (max seen: %.1f days).",
                lateness["p99"] / 3600, plan.lookback.total_seconds() / 3600,
                iso_duration(lateness["p99"]), lateness["max"] / 86400,
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
            from openlineage.client.event_v2 import Dataset

            from airflow.providers.openlineage.extractors import OperatorLineage
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

        outputs = [item for uri in self._lineage_outputs for item in dataset(uri)]
        return OperatorLineage(inputs=dataset(self._lineage_source), outputs=outputs)
