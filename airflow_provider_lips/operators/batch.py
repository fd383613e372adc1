"""LipsContactInteractionsBatchOperator: many advertisers' pulls (and loads) in one task instance.

An agency holds hundreds or thousands of advertisers on one token. A task instance per
advertiser costs a process start-up per advertiser; most advertisers hold a page or two a day,
so that overhead, not the API, sets the pace. This operator runs the per-advertiser pull
(:class:`~airflow_provider_lips.operators.contact_interactions.LipsContactInteractionsOperator`,
unchanged: each advertiser's own per-day files and manifest) for a list of advertisers on a
thread pool that shares one hook, so one session and one rate budget, and loads each
advertiser's files as its pull lands. See docs/agency-scale.md.

An advertiser that fails (403, retries exhausted, incomplete, a failed load) does not stop the
others; the task fails at the end naming every failed advertiser and why. On Airflow 3.3+ the
task state store remembers the advertisers done, so a retry of the task pulls only the failed
ones; on older Airflow a retry pulls the whole batch again (idempotent: same files, same rows).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseOperator

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow < 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]
from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.client.values import parse_flag, whole_or_given
from airflow_provider_lips.exceptions import LipsBatchError, LipsBatchFailedError, LipsValidationError
from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_MAX_PARALLEL = 8
GMAID_FIELD = "{gmaid}"
# The task state store key of an advertiser this task instance has pulled and loaded (Airflow 3.3+).
_DONE_KEY = "lips_done:{gmaid}"
# How much of an error the per-advertiser summary keeps (the log has the whole traceback).
_ERROR_CHARS = 300


def state_store(context: Context) -> Any:
    """The task state store (Airflow 3.3+: kept across this task instance's tries), or None before 3.3."""
    return cast(Mapping[str, Any], context).get("task_state_store")


@dataclass
class AdvertiserResult:
    """One advertiser's outcome in a batch: what the task log line, the XCom summary and a retry read."""

    gmaid: str
    status: str = "pending"  # ok, failed, or done earlier (a previous try of this task instance)
    records: int = 0
    archived: int = 0
    files: int = 0
    pages: int = 0
    complete: bool = False
    loaded: int | None = None  # interactions upserted, None without a load
    removed: int | None = None
    seconds: float = 0.0
    error: str | None = None
    retryable: bool = True  # whether another try could help (False: 403, bad arguments, a bad file)
    manifest: dict[str, Any] | None = field(default=None, repr=False)

    def line(self) -> str:
        """The task log's one line for this advertiser."""
        if self.status == "failed":
            return f"{self.gmaid}: FAILED {self.error}"
        loaded = "" if self.loaded is None else f", loaded {self.loaded} (removed {self.removed})"
        earlier = " (done by an earlier try)" if self.status == "done earlier" else ""
        return (
            f"{self.gmaid}: {self.records} interactions ({self.archived} archived) in {self.files} files, "
            f"{self.pages} pages, complete={self.complete}{loaded}, {self.seconds:.1f}s{earlier}"
        )

    def summary(self) -> dict[str, Any]:
        """The XCom row (no manifest: the ``manifests`` XCom carries those)."""
        return {k: v for k, v in asdict(self).items() if k != "manifest"}


class LipsContactInteractionsBatchOperator(BaseOperator):
    """Pull every advertiser of ``advertisers`` into its own per-day files, concurrently, and load each.

    :param advertisers: the gmaids of this batch (a list, or one comma-separated string). Templated.
    :param destination: the per-advertiser destination with ``{gmaid}`` (and usually ``{occurred_date}``), e.g.
        ``s3://aws_default@bucket/lips/gmaid={gmaid}/occurred_date={occurred_date}/contact_interactions.jsonl``.
        Templated.
    :param sql_conn_id: load each advertiser's files into this SQL connection as its pull lands
        (:class:`~airflow_provider_lips.transfers.contact_interactions_to_sql.LipsContactInteractionsToSqlOperator`'s
        load); ``None`` only pulls.
    :param max_parallel: advertisers pulled at once (default 8). They share the connection's rate budget
        with every other task; more only helps while the API answers slower than the budget allows.
    :param include_archived: also pull the archived interactions (default ``True``: the warehouse follows the vendor).
    :param pull_arguments: any other argument of ``LipsContactInteractionsOperator`` (``lookback``, ``pii``,
        ``per_page``, ``completeness``, ``lips_conn_id``...), the same for every advertiser. ``lookback`` and
        ``pii`` are templated.
    :return: ``{"advertisers", "ok", "failed", "records"}``; the XComs ``advertisers`` (one row per advertiser:
        status, records, files, pages, complete, loaded, error) and ``manifests`` (every successful pull's
        manifest, earlier tries included) are pushed even when the task fails.
    """

    template_fields: Sequence[str] = ("advertisers", "destination", "lookback", "pii")
    ui_color = "#f5d6a8"

    def __init__(
        self,
        *,
        advertisers: str | list[str],
        destination: str,
        sql_conn_id: str | None = None,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        include_archived: bool = True,
        lookback: Any = None,
        pii: Any = None,
        lips_conn_id: str = LipsHook.default_conn_name,
        per_page: int | None = None,
        concurrency: int | None = None,
        load_arguments: dict[str, Any] | None = None,
        pull_arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        max_parallel = whole_or_given(max_parallel)
        if not isinstance(max_parallel, int) or isinstance(max_parallel, bool) or max_parallel < 1:
            raise LipsValidationError(f"max_parallel must be a positive integer such as {DEFAULT_MAX_PARALLEL}, got {max_parallel!r}.")
        if isinstance(destination, str) and "{{" not in destination and GMAID_FIELD not in destination:
            raise LipsValidationError(
                f"destination must hold {GMAID_FIELD} so that each advertiser gets its own files, e.g. "
                f"'file:///data/lips/gmaid={{gmaid}}/occurred_date={{occurred_date}}/contact_interactions.jsonl'; "
                f"got {destination!r}."
            )
        if sql_conn_id is not None and (not isinstance(sql_conn_id, str) or not sql_conn_id.strip()):
            raise LipsValidationError(f"sql_conn_id must name an Airflow connection or be None, got {sql_conn_id!r}.")
        self.advertisers = advertisers
        self.destination = destination
        self.sql_conn_id = sql_conn_id
        self.max_parallel = max_parallel
        self.include_archived = parse_flag(include_archived, "include_archived", default=True)
        self.lookback = lookback
        self.pii = pii
        self.lips_conn_id = lips_conn_id
        self.per_page = per_page
        self.concurrency = concurrency
        self.load_arguments = dict(load_arguments or {})
        self.pull_arguments = dict(pull_arguments or {})

    def _gmaids(self) -> list[str]:
        """The batch's advertisers, each once, in order; refused before any request when there are none."""
        gmaids = ContactInteractionFilters.from_values(global_master_advertiser_id=self.advertisers).advertiser_ids
        if not gmaids:
            raise LipsValidationError(f"advertisers must name at least one gmaid, e.g. ['USA_1', 'USA_2'], got {self.advertisers!r}.")
        return list(dict.fromkeys(gmaids))

    def _pull_operator(self, gmaid: str) -> LipsContactInteractionsOperator:
        """The per-advertiser pull, exactly as the one-advertiser DAG would run it."""
        if GMAID_FIELD not in self.destination:
            raise LipsValidationError(f"destination must hold {GMAID_FIELD} (rendered: {self.destination!r}).")
        return LipsContactInteractionsOperator(
            task_id=f"{self.task_id}.{gmaid}",
            lips_conn_id=self.lips_conn_id,
            global_master_advertiser_id=gmaid,
            destination=self.destination.replace(GMAID_FIELD, gmaid),
            include_archived=self.include_archived,
            lookback=self.lookback,
            pii=self.pii,
            per_page=self.per_page,
            concurrency=self.concurrency,
            **self.pull_arguments,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        gmaids = self._gmaids()
        # Every advertiser's arguments are checked before the first request: a bad one fails the batch now.
        operators = {gmaid: self._pull_operator(gmaid) for gmaid in gmaids}
        store = state_store(context)
        results = {gmaid: AdvertiserResult(gmaid) for gmaid in gmaids}
        for gmaid in gmaids:
            earlier: Any = store.get(_DONE_KEY.format(gmaid=gmaid)) if store is not None else None
            if isinstance(earlier, dict):
                results[gmaid] = AdvertiserResult(**{**earlier, "status": "done earlier"})
        todo = [gmaid for gmaid in gmaids if results[gmaid].status == "pending"]
        self.log.info(
            "%d advertisers in this batch, %d to pull (%d done by an earlier try), %d at a time%s.",
            len(gmaids), len(todo), len(gmaids) - len(todo), self.max_parallel,
            f", loading into {self.sql_conn_id!r}" if self.sql_conn_id else "",
        )
        if not todo:
            return self._finish(context, results)
        hook = LipsHook(self.lips_conn_id, per_page=self.per_page, concurrency=self.concurrency)
        try:
            # Resolved once here, not raced by the first pulls: settings, budget, session.
            hook.settings, hook.rate_limiter, hook.paginator  # noqa: B018
            with ThreadPoolExecutor(self.max_parallel, thread_name_prefix="lips-advertiser") as pool:
                futures = {pool.submit(self._pull_one, operators[gmaid], context, hook): gmaid for gmaid in todo}
                # Loads run here, one at a time as pulls land: one writer, while the other pulls go on.
                for future in as_completed(futures):
                    self._settle(results[futures[future]], future, store)
        finally:
            hook.close()
        return self._finish(context, results)

    @staticmethod
    def _pull_one(operator: LipsContactInteractionsOperator, context: Context, hook: LipsHook) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        manifest: dict[str, Any] = operator.pull_with(context, hook)
        return manifest, time.monotonic() - started

    def _settle(self, result: AdvertiserResult, future: Future[tuple[dict[str, Any], float]], store: Any) -> None:
        """Wait for one advertiser's pull, load it, and record the outcome; an error fails this advertiser only."""
        stage = "pull"
        try:
            manifest, seconds = future.result()
            result.manifest, result.seconds = manifest, seconds
            result.records, result.archived = manifest["records"], manifest["archived_records"]
            result.files, result.pages, result.complete = len(manifest.get("files", [])) or 1, manifest["pages"], manifest["complete"]
            if self.sql_conn_id:
                stage = "load"
                from airflow_provider_lips.warehouse import load_contact_interactions

                loaded = load_contact_interactions(manifest, self.sql_conn_id, **self.load_arguments)
                result.loaded, result.removed = loaded.interactions, loaded.removed
        except Exception as error:  # one advertiser's failure is reported, the batch goes on
            self.log.exception("%s: the %s failed.", result.gmaid, stage)
            result.status = "failed"
            result.retryable = not isinstance(error, AirflowFailException)
            result.error = f"{stage}: {type(error).__name__}: {error}"[:_ERROR_CHARS]
            return
        result.status = "ok"
        if store is not None:
            store.set(_DONE_KEY.format(gmaid=result.gmaid), {**result.summary(), "manifest": result.manifest})

    def _finish(self, context: Context, results: dict[str, AdvertiserResult]) -> dict[str, Any]:
        """Log a line per advertiser, push the summary and the manifests, and fail naming the failed ones."""
        for result in results.values():
            (self.log.error if result.status == "failed" else self.log.info)("%s", result.line())
        rows = [result.summary() for result in results.values()]
        manifests = [result.manifest for result in results.values() if result.manifest is not None and result.status != "failed"]
        ti = context["ti"]
        ti.xcom_push(key="advertisers", value=rows)
        ti.xcom_push(key="manifests", value=manifests)
        failed = [result for result in results.values() if result.status == "failed"]
        store = state_store(context)
        if failed:
            error = LipsBatchError if any(result.retryable for result in failed) else LipsBatchFailedError
            raise error(
                f"{len(failed)} of {len(results)} advertisers failed: "
                + "; ".join(f"{result.gmaid} ({result.error})" for result in failed)
                + f". The other {len(results) - len(failed)} landed"
                + (" and loaded" if self.sql_conn_id else "")
                + ("; a retry (or clearing this task) pulls only the failed ones." if store is not None
                   else "; a retry pulls the whole batch again (same files, same rows).")
            )
        if store is not None:
            store.clear()  # all done: clearing this task later pulls every advertiser again
        return {
            "advertisers": len(results),
            "ok": len(results) - len(failed),
            "failed": 0,
            "records": sum(result.records for result in results.values()),
        }
