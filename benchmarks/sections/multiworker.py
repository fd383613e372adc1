"""6. Many workers on one token: 1..16 task processes side by side, per-process pacer vs shared budget; large records.

Every configuration pulls a total of pages (320, at least 40 per process: 640 for 16) on one token
against one sandbox limited to 20 req/s (50 ms latency; each row with and without arrival jitter):
N processes, each pulling total/N pages of its own sandbox data set, all released at the same moment.
Measured: aggregate pages/s against the limit, the share of requests answered 429, wall time, and
where a row's time goes besides the budget (each process's set-up before its first request, its wait
for its first slot, its end after its last). "per-process pacer" is each process pacing itself alone
(the provider before the shared budget); "shared budget" is the default machine-local SQLite budget,
and "shared budget (Redis)" the Redis one (127.0.0.1:6379).

Then peak RSS of a pull of 1,500 records of about 200 KB each (chat transcripts), with the
default byte bound (64 MiB of pages in flight) and, for contrast, with the bound out of the
way (page count only: 2 x concurrency pages).
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness import (
    ADVERTISER,
    NO_CLIENT_LIMIT,
    PER_PAGE,
    RATE_LIMIT,
    REPO,
    TOKEN,
    WINDOW_START,
    Bench,
    Section,
    finish_worker,
    log_stats,
    operator_env,
    pass_fail,
    run_worker,
    slots_only,
    start_worker,
    worker,
)

TARGET_SHARED_RATE = 0.90
TARGET_SHARED_429 = 0.005
TARGET_LARGE_RSS_MB = 700.0
# Each process pulls at least this many pages (2 s of the budget at 20/s): 16 processes sharing 320 pages
# pull 20 each, and their start-up and exit, on a loaded 2-core machine up to a second each, weigh a row
# of 17 s as much as the budget does (measured: the server admitted 18.7 to 18.9/s inside every such row).
MIN_PAGES_PER_PROCESS = 40
LATENCY_MS = 50.0
WINDOW_END = WINDOW_START + timedelta(days=48)
REDIS_CONNECTION = json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": 9}})
MODES = {
    "pacer": "per-process pacer",
    "machine": "shared budget",
    "redis": "shared budget (Redis)",
    "slots": "shared budget, slots only (no send log)",
}


@worker("budget_pull")
def budget_pull(spec: dict[str, Any]) -> dict[str, Any]:
    """One task's pull, released by the ``go`` file; ``mode`` "pacer" swaps the shared budget for a lone pacer."""
    import sys
    from datetime import datetime

    if spec["mode"] == "pacer":
        import airflow_provider_lips.hooks.lips as hook_module
        from airflow_provider_lips.client.ratelimit import RateLimiter

        hook_module.open_rate_budget = lambda **kwargs: RateLimiter(kwargs["requests_per_second"])  # type: ignore[attr-defined,assignment]
    elif spec["mode"] == "slots":
        slots_only()
    # Imported before the start, as a warm worker has them: the rows measure pulls, not imports.
    # So is the module that looks connections up: a task process is forked from its supervisor and has it;
    # a worker run outside the task runner imports it at its first connection (about 30 ms of CPU).
    import airflow.sdk.execution_time.supervisor
    from airflow.sdk import ObjectStoragePath
    import airflow_provider_lips.client.ratebudget
    import airflow_provider_lips.output.storage  # noqa: F401
    from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

    # So are Airflow's object-storage filesystems: their discovery imports every provider's
    # filesystem module (about 140 ms of CPU a process, 1.1 s for 16 processes on 2 cores).
    ObjectStoragePath(spec["destination"]).fs  # noqa: B018

    if spec["mode"] == "redis":
        import airflow.providers.redis.hooks.redis  # noqa: F401
    operator = LipsContactInteractionsOperator(
        task_id="bench_pull", lips_conn_id="lips_bench", global_master_advertiser_id=ADVERTISER, per_page=PER_PAGE,
        destination=spec["destination"], completeness="off",
    )  # fmt: skip
    context = {"data_interval_start": datetime.fromisoformat(spec["start"]), "data_interval_end": datetime.fromisoformat(spec["end"])}
    # Where a row's time goes: set-up before the first request, and the tail after the last one.
    from airflow_provider_lips.client.ratebudget import SharedRateBudget

    granted: list[float] = []
    acquire = SharedRateBudget.acquire

    def timed(self: SharedRateBudget) -> None:
        if not granted:
            granted.append(time.time())
        acquire(self)
        granted.append(time.time())

    SharedRateBudget.acquire = timed  # type: ignore[method-assign]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.002)
    started = time.time()
    manifest = operator.execute(context)  # type: ignore[arg-type]
    ended = time.time()
    return {
        "start": started, "end": ended, "pages": manifest["pages"], "records": manifest["records"],
        "first_asked": granted[0] if granted else ended, "first_sent": granted[1] if granted else ended,
        "last_sent": granted[-1] if granted else ended,
    }


def side_by_side(bench: Bench, url: str, processes: int, mode: str) -> dict[str, Any]:
    """``processes`` pulls released at once; returns their aggregate."""
    workdir = bench.workdir
    extra: dict[str, Any] = {}
    env = {**bench.env, "LIPS_RATE_BUDGET_DIR": str(workdir / "rate-budget")}
    if mode == "redis":
        extra["rate_limit_redis_conn_id"] = "lips_bench_redis"
        env["AIRFLOW_CONN_LIPS_BENCH_REDIS"] = REDIS_CONNECTION
    env = operator_env(env, url, RATE_LIMIT, **extra)
    go = workdir / f"go-{mode}-{processes}-{time.monotonic_ns()}"
    specs = [
        {
            "kind": "budget_pull", "mode": mode, "go": str(go),
            "destination": f"file://{workdir}/multi-{mode}-{processes}-{n}.jsonl",
            "start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat(),
        }
        for n in range(processes)
    ]
    running = [start_worker(spec, env, workdir) for spec in specs]
    try:
        for process in running:
            assert process.stdout is not None
            line = process.stdout.readline().decode().strip()
            if line != "ready":
                raise RuntimeError(f"a {mode} worker did not start: {line!r}")
        go.touch()
        results = [finish_worker(process, timeout=900) for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "wall": wall,
        "start": min(r["start"] for r in results),
        "end": max(r["end"] for r in results),
        "pages": sum(r["pages"] for r in results),
        "records": [r["records"] for r in results],
        "setup": max(r["first_asked"] - r["start"] for r in results),
        "first_wait": max(r["first_sent"] - r["first_asked"] for r in results),
        "tail": max(r["end"] - r["last_sent"] for r in results),
    }


def run(bench: Bench) -> None:
    from lips_sandbox.process import SandboxProcess

    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    for processes in args.processes:
        total = max(args.multi_pages, MIN_PAGES_PER_PROCESS * processes)
        per_process = total // processes
        interactions = per_process * PER_PAGE
        with SandboxProcess(
            log=workdir / f"sandbox-multi-{processes}.log", startup_timeout=120, cwd=REPO, seed=11,
            interactions=interactions, advertisers=ADVERTISER, start=WINDOW_START,
            end=WINDOW_END, token=TOKEN, max_per_page=PER_PAGE,
            latency_ms=LATENCY_MS, rate_limit=RATE_LIMIT,
        ) as server:  # fmt: skip
            for mode, jitter in [(mode, jitter) for mode in args.modes for jitter in args.multi_jitters]:
                server.configure(arrival_jitter_ms=jitter)
                time.sleep(1.1)  # let the sandbox's sliding one-second window empty
                server.reset_log()
                # A fresh sandbox (port) per process count keeps each row's budget apart from the others'.
                result = side_by_side(bench, server.url, processes, mode)
                entries = server.requests()
                stats = log_stats(entries)
                arrivals = sorted(e["time"] for e in entries if e.get("path") == "/contact_interactions")
                rate = result["pages"] / result["wall"]
                shared = mode != "pacer"
                complete = result["records"] == [interactions] * processes
                tag = f"6 multi-worker, {total} pages @{LATENCY_MS:g} ms, arrival jitter 0-{jitter:g} ms, {RATE_LIMIT:g} req/s"
                rows.append([
                    tag, f"{processes:>2} processes, {MODES[mode]}: aggregate pages/s", f"{rate:.2f}",
                    (
                        f"wall {result['wall']:.1f} s; 429: {stats['statuses'].get(429, 0)} of {stats['requests']} "
                        f"= {stats['share_429']:.2%}; server admitted {stats['server_rate']:.1f}/s; busiest second as "
                        f"sent {stats['busiest_second']}; first request "
                        f"+{arrivals[0] - result['start']:.2f} s, last -{result['end'] - arrivals[-1]:.2f} s; per process at most: "
                        f"set-up {result['setup']:.2f} s, first slot wait {result['first_wait']:.2f} s, "
                        f"last slot to end {result['tail']:.2f} s"
                    ),
                    f"{rate / RATE_LIMIT:.1%} of limit",
                    f">= {TARGET_SHARED_RATE:.0%}, <= {TARGET_SHARED_429:.1%} 429" if shared else "(info)",
                    pass_fail(rate >= TARGET_SHARED_RATE * RATE_LIMIT and stats["share_429"] <= TARGET_SHARED_429 and complete)
                    if shared else "-",
                ])  # fmt: skip
                if not complete:
                    notes.append(
                        f"multi-worker {processes} {mode} jitter {jitter:g}: records {result['records']}, expected {interactions} each."
                    )
    large_records(bench)


def large_records(bench: Bench) -> None:
    """Peak RSS of a pull of large records, with the byte bound and (contrast) without it."""
    from lips_sandbox.process import SandboxProcess

    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    count = args.large_records
    with SandboxProcess(
        log=workdir / "sandbox-large.log", startup_timeout=300, cwd=REPO, seed=13, interactions=count,
        advertisers=ADVERTISER, start=WINDOW_START, end=WINDOW_END, token=TOKEN,
        max_per_page=PER_PAGE, transcript_bytes=200_000,
    ) as server:  # fmt: skip
        for label, bound in (("default byte bound (64 MiB)", None), ("no byte bound (2 x concurrency pages)", 1 << 40)):
            extra: dict[str, Any] = {} if bound is None else {"max_bytes_in_flight": bound}
            destination = f"file://{workdir}/large-{secrets.token_hex(3)}.jsonl"
            spec = {"kind": "operator", "destination": destination, "completeness": "off"}
            result = run_worker(spec, operator_env(bench.env, server.url, NO_CLIENT_LIMIT, **extra), workdir)
            Path(destination.removeprefix("file://")).unlink(missing_ok=True)
            peak_mb = result["peak_kb"] / 1024
            rows.append([
                f"6 multi-worker, {count:,} records of ~200 KB", f"peak RSS, {label}", f"{peak_mb:.0f} MB",
                f"baseline after imports {result['baseline_kb'] / 1024:.0f} MB", f"{result['pages']} pages, {result['records']:,} written",
                f"< {TARGET_LARGE_RSS_MB:g} MB" if bound is None else "(info)",
                pass_fail(peak_mb < TARGET_LARGE_RSS_MB and result["records"] == count) if bound is None else "-",
            ])  # fmt: skip
            if result["records"] != count:
                notes.append(f"large records ({label}): wrote {result['records']}, expected {count}.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", help="comma-separated process counts (default 1,2,4,8,16)")
    parser.add_argument("--multi-pages", type=int, help="total pages per row, at least 40 per process (default 320; quick 160)")
    parser.add_argument("--modes", help="comma-separated: pacer,machine,redis,slots (default pacer,machine,redis)")
    parser.add_argument("--multi-jitters", help="comma-separated sandbox arrival jitters in ms, side by side (default 0,40)")
    parser.add_argument("--large-records", type=int, help="records of ~200 KB in the RSS run (default 1500)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.processes = [int(x) for x in (args.processes or ("1,4,16" if args.quick else "1,2,4,8,16")).split(",")]
    args.multi_pages = args.multi_pages or (160 if args.quick else 320)
    args.modes = (args.modes or "pacer,machine,redis").split(",")
    args.multi_jitters = [float(x) for x in (args.multi_jitters or "0,40").split(",")]
    unknown = set(args.modes) - set(MODES)
    if unknown:
        raise SystemExit(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    args.large_records = args.large_records or (500 if args.quick else 1500)


SECTION = Section("multiworker", run, add_arguments, resolve_arguments)
