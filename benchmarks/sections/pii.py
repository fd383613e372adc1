"""5. CPU path with a PII policy: interactions/s with ``pii="pseudonymize"`` against no policy, side by side."""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from harness import NO_CLIENT_LIMIT, Bench, Section, operator_env, pass_fail, run_worker, sandbox

TARGET_RATIO = 0.5  # the policy may cost at most half of the no-policy throughput
BENCH_KEY = "bench-pii-key-0123456789abcdef"
POLICIES: tuple[str | None, ...] = (None, "pseudonymize")


def run(bench: Bench) -> None:
    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    size = args.pii_interactions
    section = f"5 CPU path with a PII policy, no latency, no rate limit, {size:,} interactions"
    results: dict[str | None, list[dict[str, Any]]] = {policy: [] for policy in POLICIES}
    with sandbox(bench, interactions=size) as server:
        env = operator_env(bench.env, server.url, NO_CLIENT_LIMIT)
        env["AIRFLOW_CONN_LIPS_PII_KEY"] = json.dumps({"conn_type": "generic", "password": BENCH_KEY})
        for _ in range(args.pii_runs):  # interleaved, so that a change in machine load hits both alike
            for policy in POLICIES:
                spec = {"kind": "operator", "destination": f"file://{workdir}/pii-{policy}.jsonl",
                        "completeness": "fail", "pii": policy}  # fmt: skip
                results[policy].append(run_worker(spec, env, workdir))
    wall = {policy: [r["records"] / r["wall"] for r in runs] for policy, runs in results.items()}
    cpu = {policy: [r["records"] / r["cpu"] for r in runs] for policy, runs in results.items()}
    complete = all(r["records"] == size for runs in results.values() for r in runs)
    for label, rates, unit in (("wall, execute", wall, "interactions/s"), ("per client CPU-second", cpu, "interactions/CPU-s")):
        plain, policy = max(rates[None]), max(rates["pseudonymize"])
        ratio = policy / plain
        rows.append([
            section, f"no policy: {unit} ({label}; best of {args.pii_runs})", f"{plain:,.0f}",
            f"median {statistics.median(rates[None]):,.0f}", "-", "(reference)", "-",
        ])  # fmt: skip
        rows.append([
            section, f'pii="pseudonymize": {unit} ({label}; best of {args.pii_runs})', f"{policy:,.0f}",
            f"no policy {plain:,.0f}", f"{ratio:.0%} of no policy ({1e6 / policy - 1e6 / plain:+.1f} us per interaction)",
            f">= {TARGET_RATIO:.0%}", pass_fail(ratio >= TARGET_RATIO and complete),
        ])  # fmt: skip
    if not complete:
        notes.append(f"pii: some run wrote fewer than {size} records: {[[r['records'] for r in runs] for runs in results.values()]}.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pii-interactions", type=int, help="interactions in each PII policy run (default 100000)")
    parser.add_argument("--pii-runs", type=int, help="rounds of (no policy, pseudonymize) runs, best counts (default 3)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.pii_interactions = args.pii_interactions or (20_000 if args.quick else 100_000)
    args.pii_runs = args.pii_runs or (1 if args.quick else 3)


SECTION = Section("pii", run, add_arguments, resolve_arguments)
