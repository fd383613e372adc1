"""The operator worker, shared by the sections that measure a pull: runs in a fresh process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from harness import ADVERTISER, PER_PAGE, WINDOW_END, WINDOW_START, worker

if TYPE_CHECKING:
    from airflow.sdk import Context


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kb() -> int:
    hwm = _proc_status_kb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


@worker("operator")
def operator_pull(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``LipsContactInteractionsOperator.execute`` into ``spec["destination"]``: wall, CPU, peak RSS.

    ``spec["pii"]``, when given, is the operator's PII policy (its key: connection ``lips_pii_key``);
    ``spec["output_format"]`` the operator's output format (its libraries are part of the baseline).
    The destination may be one file or day partitions (``{occurred_date}``).
    """
    import gc

    import requests  # noqa: F401  (part of the baseline)

    import airflow_provider_lips.output.storage  # noqa: F401  (imported lazily by execute; part of the baseline)
    from airflow_provider_lips.client.paginator import PagePaginator
    from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

    if spec.get("output_format") == "parquet":
        # Imported by execute (pyarrow.compute on the first take): part of the baseline. The provider's
        # module first, as execute imports it: it chooses Arrow's allocator before pyarrow loads.
        from airflow_provider_lips.output import parquet  # noqa: F401  # isort: skip

        import pyarrow.compute  # isort: skip
        import pyarrow.parquet  # noqa: F401  # isort: skip

    operator = LipsContactInteractionsOperator(
        task_id="bench_pull",
        lips_conn_id="lips_bench",
        global_master_advertiser_id=ADVERTISER,
        per_page=PER_PAGE,
        destination=spec["destination"],
        completeness=spec["completeness"],
        pii=spec.get("pii"),
        output_format=spec.get("output_format"),
    )
    # The window goes in as the run's data interval.
    context = cast("Context", {"data_interval_start": WINDOW_START, "data_interval_end": WINDOW_END})

    profiler = None
    thread_cpu: dict[str, float] = {}
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        thread_cpu = _instrument_page_threads(PagePaginator)

    gc.collect()
    collector = _CollectorClock()
    gc.callbacks.append(collector)
    peak_reset = _reset_peak_rss()
    baseline_kb = _proc_status_kb("VmRSS") or _peak_rss_kb()
    cpu0, main_cpu0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    if profiler is not None:
        profiler.start()
    manifest = operator.execute(context)
    if profiler is not None:
        profiler.stop()
    wall = time.perf_counter() - wall0
    cpu, main_cpu = time.process_time() - cpu0, time.thread_time() - main_cpu0
    gc.callbacks.remove(collector)
    peak_kb = _peak_rss_kb()
    lines, size = _on_disk(manifest)
    result = {
        "wall": wall,
        "cpu": cpu,
        "main_thread_cpu": main_cpu,
        "records": manifest["records"],
        "pages": manifest["pages"],
        "lines": lines,
        "bytes": size,
        "completeness": manifest["completeness"],
        "baseline_kb": baseline_kb,
        "peak_kb": peak_kb,
        "peak_reset": peak_reset,
        "gc_seconds": collector.seconds,
        "gc_full": collector.full,
    }
    if profiler is not None:
        result["profile_flat"] = profiler.output_text(unicode=False, color=False, flat=True, flat_time="self")
        result["profile_tree"] = profiler.output_text(unicode=False, color=False, show_all=False)
        result["thread_cpu"] = thread_cpu
    return result


class _CollectorClock:
    """A ``gc.callbacks`` entry: the CPU seconds the cycle collector took, and its full collections."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        self.seconds += time.thread_time() - self._started
        self.full += info["generation"] == 2


def _on_disk(manifest: dict[str, Any]) -> tuple[int, int]:
    """Records (JSON lines, or Parquet rows) and bytes in the files the manifest names."""
    import os

    uris = [file["uri"] for file in manifest["files"]] if "files" in manifest else [manifest["uri"]]
    records = size = 0
    for uri in uris:
        path = uri.removeprefix("file://")
        size += os.path.getsize(path)
        if manifest.get("format") == "parquet":
            import pyarrow.parquet as pq

            records += pq.read_metadata(path).num_rows
        else:
            with open(path, "rb") as handle:
                records += sum(1 for _ in handle)
    return records, size


def _instrument_page_threads(paginator_class: Any) -> dict[str, float]:
    """pyinstrument samples only the thread that started it; account for the page threads
    by wrapping the paginator's page fetch and the JSON parse (msgspec) with per-thread CPU clocks."""
    import threading

    import msgspec

    totals = {"get_page_cpu": 0.0, "get_page_wall": 0.0, "json_parse_cpu": 0.0, "calls": 0.0}
    lock = threading.Lock()
    original_get_page = paginator_class.get_page
    original_decode = msgspec.json.decode

    def get_page(self: Any, *args: Any, **kwargs: Any) -> Any:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        try:
            return original_get_page(self, *args, **kwargs)
        finally:
            with lock:
                totals["get_page_cpu"] += time.thread_time() - cpu0
                totals["get_page_wall"] += time.perf_counter() - wall0
                totals["calls"] += 1

    def decode(*args: Any, **kwargs: Any) -> Any:
        cpu0 = time.thread_time()
        try:
            return original_decode(*args, **kwargs)
        finally:
            with lock:
                totals["json_parse_cpu"] += time.thread_time() - cpu0

    paginator_class.get_page = get_page
    msgspec.json.decode = decode  # the requester looks it up per call
    return totals
