#!/usr/bin/env python
"""Benchmark the LIPS provider's pull against the sandbox; prints one table.

    .venv/bin/python benchmarks/bench_pull.py            # full run (about 5 minutes)
    .venv/bin/python benchmarks/bench_pull.py --quick    # smaller everything (about 1.5 minutes)
    .venv/bin/python benchmarks/bench_pull.py --pages 100 --only throughput,cpu

What it measures (each in one run, side by side), one module of ``sections/`` each:

1. Throughput: pages/s of ``LipsContactInteractionsOperator.execute`` (JSON Lines to a local
   file, ``completeness="off"`` so only listing requests count) against a sandbox with a
   fixed latency and a 20 req/s rate limit, vs a sequential client (one keep-alive
   ``requests.Session``, page 1, 2, ..., N, the way Airflow's HttpOperator paginates) vs the
   limit (the rate limit, or what latency allows if lower), plus the share of 429 answers
   from the sandbox's request log.
2. Memory: peak RSS growth of a pull of 10,000 and of 200,000 interactions (fresh process
   each, baseline measured after imports), no latency, no rate limit.
3. Import cost: ``import airflow.sdk`` vs the provider's modules, and the parse time of dags/.
4. CPU path: interactions/s end to end through the operator with no latency and no rate
   limit, profiled with pyinstrument when it is installed (it is not a dependency).

The sandbox always runs as a separate process (``SandboxProcess``), and every pull runs in a
fresh subprocess of this script (``--worker``), so the server's CPU never shares the client's
GIL and every memory figure starts clean. Targets print PASS/FAIL; the script never fails on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import workers  # noqa: F401  (registers the operator worker)
from harness import NO_CLIENT_LIMIT, Bench, base_env, worker_main
from sections import SECTIONS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small runs: 100 pages, 2k/40k memory, 20k CPU, 3 import reps, 1 CPU run")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(s.name for s in SECTIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (outputs, logs)")
    for section in SECTIONS:
        section.add_arguments(parser)
    args = parser.parse_args(argv)
    args.only = set((args.only or ",".join(s.name for s in SECTIONS)).split(","))
    unknown = args.only - {s.name for s in SECTIONS}
    if unknown:
        parser.error(f"--only: unknown section(s) {sorted(unknown)}")
    for section in SECTIONS:
        section.resolve_arguments(args)
    return args


def render_table(rows: list[list[str]]) -> str:
    header = ["Section", "Measurement", "Value", "Compared with", "Ratio / detail", "Target", "Result"]
    cells = [header, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def machine_info() -> str:
    cpu = "unknown CPU"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("apache-airflow", "apache-airflow-task-sdk", "requests"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} not installed")
    return (
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
        f"machine: nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), {cpu}, {platform.system()} {platform.release()}\n"
        f"python: {platform.python_version()} ({sys.executable}); {', '.join(versions)}\n"
        f"load average at start: {_load()}"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    busy = " (busier than nproc: other work shares this machine, expect noise)" if one > (os.cpu_count() or 1) else ""
    return f"{one:.2f} {five:.2f} {fifteen:.2f}{busy}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    workdir = Path(tempfile.mkdtemp(prefix="lips-bench-"))
    bench = Bench(args, base_env(workdir), workdir)
    started = time.monotonic()
    print(machine_info(), flush=True)
    try:
        for section in SECTIONS:
            if section.name in args.only:
                print(f"... {section.name}", file=sys.stderr, flush=True)
                section.run(bench)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at end: {_load()}")
    print(f"total benchmark time: {time.monotonic() - started:.0f} s\n")
    print(render_table(bench.rows))
    print()
    print(
        "Notes: pages/s = pages / wall time of one execute() in a fresh process (hook setup and file write included). "
        f"'limit' = min(rate limit, concurrency x 1000 / latency). Memory and CPU rows run with completeness='fail' "
        f"(two /totals calls) and a client limit of {NO_CLIENT_LIMIT:,.0f} req/s, since a connection cannot switch the "
        "client-side limiter off. The window goes in as the run's data interval."
    )
    for note in bench.notes:
        print(f"- {note}")
    for block in bench.appendix:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
