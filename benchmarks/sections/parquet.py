"""7. Parquet vs JSON Lines: bytes on disk, write rate on the CPU path, peak RSS growth, a DuckDB query over each lake.

Both formats write the same day-partitioned lake (``gmaid=USA_1/occurred_date=<day>/...``)
from the same sandbox, interleaved round by round so that a change in machine load hits
both alike; the DuckDB query (count per day and event type) reads each lake through its
Hive-style folders, and both answers must agree.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from harness import ADVERTISER, NO_CLIENT_LIMIT, Bench, Section, operator_env, pass_fail, run_worker, sandbox

TARGET_BYTES_RATIO = 0.35  # Parquet files at most 35 % of the JSON Lines bytes
TARGET_RATE_RATIO = 0.70  # writing Parquet at least 70 % of the JSON Lines rate
TARGET_RSS_GROWTH_MB = 25.0
FORMATS = ("jsonl", "parquet")
_QUERY = "SELECT occurred_date, event_type, count(*) AS n FROM {source} GROUP BY ALL ORDER BY ALL"


def _lake(workdir: Path, name: str, output_format: str) -> Path:
    return workdir / f"lake-{name}-{output_format}"


def _spec(workdir: Path, name: str, output_format: str) -> dict[str, Any]:
    lake = _lake(workdir, name, output_format)
    destination = f"file://{lake}/gmaid={ADVERTISER}/occurred_date={{occurred_date}}/contact_interactions.{output_format}"
    return {"kind": "operator", "destination": destination, "completeness": "fail", "output_format": output_format}


def run(bench: Bench) -> None:
    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    size = args.parquet_interactions
    section = f"7 Parquet vs JSON Lines, day partitions, no latency, no rate limit, {size:,} interactions"
    results: dict[str, list[dict[str, Any]]] = {output_format: [] for output_format in FORMATS}
    with sandbox(bench, interactions=size) as server:
        env = operator_env(bench.env, server.url, NO_CLIENT_LIMIT)
        for _ in range(args.parquet_runs):
            for output_format in FORMATS:
                results[output_format].append(run_worker(_spec(workdir, "rate", output_format), env, workdir))
    complete = all(r["records"] == r["lines"] == size for runs in results.values() for r in runs)
    jsonl_bytes, parquet_bytes = results["jsonl"][-1]["bytes"], results["parquet"][-1]["bytes"]
    rows.append([
        section, "bytes on disk: Parquet (zstd) vs JSON Lines", f"{parquet_bytes / 1e6:,.1f} MB",
        f"JSON Lines {jsonl_bytes / 1e6:,.1f} MB",
        f"{parquet_bytes / jsonl_bytes:.1%} of JSON Lines ({parquet_bytes / size:.0f} vs {jsonl_bytes / size:.0f} bytes per interaction)",
        f"<= {TARGET_BYTES_RATIO:.0%}", pass_fail(parquet_bytes <= TARGET_BYTES_RATIO * jsonl_bytes and complete),
    ])  # fmt: skip
    for label, key in (("wall, execute", "wall"), ("per client CPU-second", "cpu")):
        rates = {output_format: [r["records"] / r[key] for r in runs] for output_format, runs in results.items()}
        jsonl, parquet = max(rates["jsonl"]), max(rates["parquet"])
        rows.append([
            section, f"JSON Lines: interactions/s ({label}; best of {args.parquet_runs})", f"{jsonl:,.0f}",
            f"median {statistics.median(rates['jsonl']):,.0f}", "-", "(reference)", "-",
        ])  # fmt: skip
        rows.append([
            section, f"Parquet: interactions/s ({label}; best of {args.parquet_runs})", f"{parquet:,.0f}",
            f"JSON Lines {jsonl:,.0f}", f"{parquet / jsonl:.0%} of JSON Lines ({1e6 / parquet - 1e6 / jsonl:+.1f} us per interaction)",
            f">= {TARGET_RATE_RATIO:.0%}", pass_fail(parquet >= TARGET_RATE_RATIO * jsonl and complete),
        ])  # fmt: skip
        # Each round's two runs follow each other: their ratio is the least touched by the machine's drift.
        paired = sorted(p / j for j, p in zip(rates["jsonl"], rates["parquet"], strict=True))
        notes.append(
            f"parquet ({label}): Parquet / JSON Lines within each round: median {statistics.median(paired):.0%}, "
            f"{paired[0]:.0%} to {paired[-1]:.0%} over {len(paired)} rounds."
        )
    collector = {
        output_format: (statistics.median(r["gc_seconds"] * 1e6 / r["records"] for r in runs), max(r["gc_full"] for r in runs))
        for output_format, runs in results.items()
    }
    spent = [f"{seconds:.1f} us per interaction in {fmt} ({full} full collections at most)" for fmt, (seconds, full) in collector.items()]
    notes.append(f"parquet: Python's cycle collector took a median {', '.join(spent)} (part of the CPU-second rows).")
    _duckdb_rows(bench, section, size)
    _memory_rows(bench)
    if not complete:
        notes.append(f"parquet: some run wrote other than {size} records: {[[r['records'] for r in runs] for runs in results.values()]}.")


def _duckdb_rows(bench: Bench, section: str, size: int) -> None:
    """The same query over each lake: DuckDB reads both through the Hive-style folders."""
    import duckdb

    answers: dict[str, list[tuple[Any, ...]]] = {}
    seconds: dict[str, float] = {}
    for output_format in FORMATS:
        lake = _lake(bench.workdir, "rate", output_format)
        files = f"{lake}/*/*/*.{output_format}"
        source = (
            f"read_parquet('{files}', hive_partitioning = true)" if output_format == "parquet"
            else f"read_json('{files}', format = 'newline_delimited', hive_partitioning = true)"
        )  # fmt: skip
        timings = []
        for _ in range(3):
            connection = duckdb.connect()
            started = time.perf_counter()
            answers[output_format] = connection.execute(_QUERY.format(source=source)).fetchall()
            timings.append(time.perf_counter() - started)
            connection.close()
        seconds[output_format] = min(timings)
    same = answers["jsonl"] == answers["parquet"] and sum(row[2] for row in answers["parquet"]) == size
    verdict = "same answer" if same else "ANSWERS DIFFER"
    bench.rows.append([
        section, "DuckDB: count per day and event type over the lake (best of 3)", f"Parquet {seconds['parquet'] * 1000:,.0f} ms",
        f"JSON Lines {seconds['jsonl'] * 1000:,.0f} ms",
        f"{seconds['jsonl'] / seconds['parquet']:.1f}x faster on Parquet; {len(answers['parquet'])} groups, {verdict}",
        "(info)", pass_fail(same),
    ])  # fmt: skip


def _memory_rows(bench: Bench) -> None:
    """Peak RSS growth over the post-import baseline, small vs large pull, each format in a fresh process."""
    small, large = bench.args.parquet_memory_sizes
    growth: dict[str, dict[int, float]] = {output_format: {} for output_format in FORMATS}
    for size in (small, large):
        with sandbox(bench, interactions=size) as server:
            env = operator_env(bench.env, server.url, NO_CLIENT_LIMIT)
            for output_format in FORMATS:
                result = run_worker(_spec(bench.workdir, f"memory-{size}", output_format), env, bench.workdir)
                growth[output_format][size] = (result["peak_kb"] - result["baseline_kb"]) / 1024
                if result["records"] != size or result["lines"] != size:
                    bench.notes.append(f"parquet memory {output_format} {size}: {result['lines']} on disk, expected {size}.")
    section = "7 Parquet vs JSON Lines, peak RSS"
    for output_format in FORMATS:
        difference = growth[output_format][large] - growth[output_format][small]
        is_parquet = output_format == "parquet"
        bench.rows.append([
            section, f"{'Parquet' if is_parquet else 'JSON Lines'}: RSS growth {small:,} -> {large:,} interactions",
            f"{difference:.1f} MB", f"{growth[output_format][small]:.1f} MB -> {growth[output_format][large]:.1f} MB over baseline",
            f"{difference * 1024 * 1024 / (large - small):.0f} bytes per extra interaction",
            f"< {TARGET_RSS_GROWTH_MB:g} MB" if is_parquet else "(reference)",
            pass_fail(difference < TARGET_RSS_GROWTH_MB) if is_parquet else "-",
        ])  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parquet-interactions", type=int, help="interactions in each Parquet/JSON Lines run (default 100000)")
    parser.add_argument("--parquet-runs", type=int, help="rounds of (JSON Lines, Parquet) runs, best counts (default 3)")
    parser.add_argument("--parquet-memory-sizes", help="small,large interaction counts for RSS growth (default 10000,200000)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.parquet_interactions = args.parquet_interactions or (20_000 if args.quick else 100_000)
    args.parquet_runs = args.parquet_runs or (1 if args.quick else 3)
    sizes = args.parquet_memory_sizes or ("2000,40000" if args.quick else "10000,200000")
    args.parquet_memory_sizes = [int(x) for x in sizes.split(",")][:2]


SECTION = Section("parquet", run, add_arguments, resolve_arguments)
