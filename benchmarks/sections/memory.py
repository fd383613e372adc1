"""2. Memory: peak RSS growth of a pull of a small and a large number of interactions."""

from __future__ import annotations

import argparse

from harness import NO_CLIENT_LIMIT, Bench, Section, operator_env, pass_fail, run_worker, sandbox

TARGET_RSS_GROWTH_MB = 25.0


def run(bench: Bench) -> None:
    rows, notes, workdir = bench.rows, bench.notes, bench.workdir
    results = []
    for size in bench.args.memory_sizes:
        with sandbox(bench, interactions=size) as server:
            destination = f"file://{workdir}/memory-{size}.jsonl"
            spec = {"kind": "operator", "destination": destination, "completeness": "fail"}
            result = run_worker(spec, operator_env(bench.env, server.url, NO_CLIENT_LIMIT), workdir)
        growth_mb = (result["peak_kb"] - result["baseline_kb"]) / 1024
        results.append((size, growth_mb, result))
        rows.append([
            "2 memory, no latency, no rate limit", f"peak RSS growth over baseline, {size:,} interactions",
            f"{growth_mb:.1f} MB", f"baseline after imports {result['baseline_kb'] / 1024:.1f} MB",
            f"peak {result['peak_kb'] / 1024:.1f} MB, {result['records']:,} written", "(info)", "-",
        ])  # fmt: skip
        if result["records"] != size or result["lines"] != size:
            notes.append(f"memory {size}: wrote {result['lines']} lines / {result['records']} records, expected {size}.")
        if not result["peak_reset"]:
            notes.append("memory: could not reset VmHWM; peaks include the import phase.")
    if len(results) >= 2:
        (small, small_mb, _), (large, large_mb, _) = results[0], results[-1]
        difference = large_mb - small_mb
        per_record = difference * 1024 * 1024 / (large - small)
        rows.append([
            "2 memory, no latency, no rate limit", f"growth {small:,} -> {large:,} interactions", f"{difference:.1f} MB",
            f"{small_mb:.1f} MB -> {large_mb:.1f} MB", f"{per_record:.0f} bytes per extra interaction",
            f"< {TARGET_RSS_GROWTH_MB:g} MB", pass_fail(difference < TARGET_RSS_GROWTH_MB),
        ])  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory-sizes", help="comma-separated interaction counts (default 10000,200000)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.memory_sizes = [int(x) for x in (args.memory_sizes or ("2000,40000" if args.quick else "10000,200000")).split(",")]


SECTION = Section("memory", run, add_arguments, resolve_arguments)
