"""4. CPU path: interactions/s end to end through the operator, no latency, no rate limit; optional profile."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from typing import Any

from harness import NO_CLIENT_LIMIT, Bench, Section, operator_env, pass_fail, run_worker, sandbox

TARGET_CPU_RATE = 20_000.0


def run(bench: Bench) -> None:
    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    size = args.cpu_interactions
    section = f"4 CPU path, no latency, no rate limit, {size:,} interactions"
    profile: dict[str, Any] | None = None
    runs: list[tuple[dict[str, Any], float]] = []
    with sandbox(bench, interactions=size) as server:
        connection_env = operator_env(bench.env, server.url, NO_CLIENT_LIMIT)
        destination = f"file://{workdir}/cpu.jsonl"
        for _ in range(args.cpu_runs):
            server_cpu0 = server.cpu_seconds()
            spec = {"kind": "operator", "destination": destination, "completeness": "fail"}
            result = run_worker(spec, connection_env, workdir)
            runs.append((result, server.cpu_seconds() - server_cpu0))
        if args.profile:
            profile = run_worker(
                {"kind": "operator", "destination": destination, "completeness": "fail", "profile": True},
                connection_env, workdir,
            )  # fmt: skip
    rates = [r["records"] / r["wall"] for r, _ in runs]
    best_index = max(range(len(runs)), key=lambda i: rates[i])
    best, server_cpu = runs[best_index]
    rate = rates[best_index]
    complete = all(r["records"] == size for r, _ in runs)
    rows.append([
        section, f"operator interactions/s into JSON Lines (wall, execute; best of {len(runs)})", f"{rate:,.0f}",
        f"median {statistics.median(rates):,.0f}/s; best: {best['records']:,} in {best['wall']:.2f} s, {best['pages']} pages",
        f"client CPU {best['cpu']:.2f} s (main thread {best['main_thread_cpu']:.2f} s), server CPU {server_cpu:.2f} s",
        f">= {TARGET_CPU_RATE:,.0f}/s", pass_fail(rate >= TARGET_CPU_RATE and complete),
    ])  # fmt: skip
    cpu_rates = [r["records"] / r["cpu"] for r, _ in runs]
    rows.append([
        section, "interactions per client CPU-second (all threads; GIL-bound, so ~ the ceiling on 1 free core)",
        f"{max(cpu_rates):,.0f}", f"median {statistics.median(cpu_rates):,.0f}", f"{1e6 / max(cpu_rates):.1f} us CPU per interaction",
        "(info)", "-",
    ])  # fmt: skip
    if not complete:
        notes.append(f"cpu: some run wrote fewer than {size} records: {[r['records'] for r, _ in runs]}.")
    if args.profile_note:
        notes.append(args.profile_note)
    if profile:
        bench.appendix.append(_profile_text(profile, size))


def _profile_text(profile: dict[str, Any], size: int) -> str:
    threads = profile.get("thread_cpu", {})
    lines = [
        (
            f"\nProfile of the CPU path ({size:,} interactions; pyinstrument samples the main thread only, "
            f"profiled run took {profile['wall']:.2f} s):"
        )
    ]
    if threads:
        lines.append(
            f"page threads: {int(threads['calls'])} get_page calls, {threads['get_page_cpu']:.2f} s CPU "
            f"(of which JSON parse {threads['json_parse_cpu']:.2f} s), {threads['get_page_wall']:.2f} s wall summed "
            f"over threads; main thread CPU {profile['main_thread_cpu']:.2f} s; process CPU {profile['cpu']:.2f} s"
        )
    lines += ["\nTop entries by self time (main thread):", _top(profile["profile_flat"], 30)]
    lines += ["\nCall tree (main thread):", _top(profile["profile_tree"], 60)]
    return "\n".join(lines)


def _top(text: str, lines: int) -> str:
    body = [line for line in text.splitlines() if line.strip()]
    return "\n".join(body[:lines])


def _pyinstrument_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import pyinstrument"], capture_output=True, check=False)
    return probe.returncode == 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-interactions", type=int, help="interactions in the CPU run (default 100000)")
    parser.add_argument("--cpu-runs", type=int, help="repetitions of the CPU path run, best counts (default 3)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", dest="profile", action="store_true", default=None, help="profile the CPU path (needs pyinstrument)")
    group.add_argument("--no-profile", dest="profile", action="store_false")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.cpu_interactions = args.cpu_interactions or (20_000 if args.quick else 100_000)
    args.cpu_runs = args.cpu_runs or (1 if args.quick else 3)
    args.profile_note = None
    if args.worker or "cpu" not in args.only:
        return
    if args.profile is None:
        args.profile = _pyinstrument_available()
        if not args.profile:
            args.profile_note = "pyinstrument is not installed: profiling skipped (pip install pyinstrument)."
    elif args.profile and not _pyinstrument_available():
        args.profile, args.profile_note = False, "--profile given but pyinstrument is not installed: profiling skipped."


SECTION = Section("cpu", run, add_arguments, resolve_arguments)
