"""1. Throughput: the operator's pages/s vs a sequential one-session client vs the limit, and the 429 share,
with and without arrival jitter at the server (requests counted a random 0-N ms after they were sent)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from harness import (
    ADVERTISER,
    PER_PAGE,
    RATE_LIMIT,
    TOKEN,
    WINDOW_END,
    WINDOW_START,
    Bench,
    Section,
    log_stats,
    operator_env,
    pass_fail,
    run_worker,
    sandbox,
    slots_only,
    worker,
)

TARGET_RATE_SHARE = 0.90
TARGET_429_SHARE = 0.005
TARGET_SPEEDUP_200MS = 3.5
# The shipped budget, and (for contrast) the same without its log of actual sends.
BUDGETS = {"window": "", "slots": " [budget: slots only, no send log]"}


@worker("sequential")
def sequential_pull(spec: dict[str, Any]) -> dict[str, Any]:
    """What HttpOperator pagination does: one session, page after page, parse, append."""
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"token {TOKEN}", "Accept": "*/*", "Content-Type": "application/json"})
    base = {
        "global_master_advertiser_id": ADVERTISER,
        "start_date": WINDOW_START.date().isoformat(),
        "end_date": WINDOW_END.date().isoformat(),
        "per_page": str(PER_PAGE),
    }
    records: list[dict[str, Any]] = []
    retries_429 = 0
    page, total = 1, 1
    started = time.perf_counter()
    while page <= total:
        response = session.get(f"{spec['url']}/contact_interactions", params={**base, "page": str(page)}, timeout=30)
        if response.status_code == 429:  # HttpOperator would fail here; we wait as told and go on
            retries_429 += 1
            time.sleep(float(response.headers.get("Retry-After") or 1))
            continue
        response.raise_for_status()
        body = response.json()
        records.extend(body["contact_interactions"])
        total = body["total_pages"]
        page += 1
    wall = time.perf_counter() - started
    return {"wall": wall, "pages": total, "records": len(records), "retries_429": retries_429}


@worker("operator_slots_only")
def operator_slots_only(spec: dict[str, Any]) -> dict[str, Any]:
    """The operator worker drawing from the budget as it was before its send log."""
    from workers import operator_pull

    slots_only()
    return operator_pull(spec)


def run(bench: Bench) -> None:
    from airflow_provider_lips.client.defaults import DEFAULT_CONCURRENCY  # imports no Airflow

    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    interactions = args.pages * PER_PAGE
    with sandbox(bench, interactions=interactions, latency_ms=args.latencies[0], rate_limit=RATE_LIMIT) as server:
        for latency in args.latencies:
            limit = min(RATE_LIMIT, DEFAULT_CONCURRENCY * 1000.0 / latency) if latency else RATE_LIMIT
            limit_text = f"{limit:.1f} (rate limit)" if limit == RATE_LIMIT else f"{limit:.1f} (latency x concurrency)"
            runs = [(jitter, budget) for jitter in args.arrival_jitters for budget in args.budgets]
            for round_, (jitter, budget) in enumerate(runs):
                server.configure(latency_ms=latency, arrival_jitter_ms=jitter)
                time.sleep(1.1)  # let the sandbox's sliding one-second window empty
                server.reset_log()
                destination = f"file://{workdir}/throughput-{latency}-{jitter}-{budget}.jsonl"
                kind = "operator" if budget == "window" else "operator_slots_only"
                spec = {"kind": kind, "destination": destination, "completeness": "off"}
                provider = run_worker(spec, operator_env(bench.env, server.url, RATE_LIMIT), workdir)
                provider_log = log_stats(server.requests())
                provider_rate = provider["pages"] / provider["wall"]
                tag = (
                    f"1 throughput @{latency:g} ms, arrival jitter 0-{jitter:g} ms, {RATE_LIMIT:g} req/s limit, "
                    f"{provider['pages']} pages"
                )
                complete = provider["records"] == interactions == provider["lines"]
                rows.append([
                    tag, f"provider operator pages/s (wall, execute){BUDGETS[budget]}", f"{provider_rate:.2f}",
                    f"limit {limit_text}", f"{provider_rate / limit:.1%} of limit", f">= {TARGET_RATE_SHARE:.0%}",
                    pass_fail(provider_rate >= TARGET_RATE_SHARE * limit and complete),
                ])  # fmt: skip
                rows.append([
                    tag, f"provider: share of listing requests answered 429{BUDGETS[budget]}",
                    f"{provider_log['share_429']:.2%}",
                    f"{provider_log['statuses'].get(429, 0)} of {provider_log['requests']} requests",
                    (
                        f"server-side admit rate {provider_log['server_rate']:.2f}/s; busiest second as sent "
                        f"{provider_log['busiest_second']}"
                    ),
                    f"<= {TARGET_429_SHARE:.1%}",
                    pass_fail(provider_log["share_429"] <= TARGET_429_SHARE),
                ])  # fmt: skip
                if not complete:
                    notes.append(
                        f"throughput @{latency} ms, jitter {jitter} ms: the operator wrote {provider['lines']} lines / "
                        f"{provider['records']} records, expected {interactions}."
                    )
                if round_:
                    continue  # the sequential client once per latency
                time.sleep(1.1)
                server.reset_log()
                sequential = run_worker({"kind": "sequential", "url": server.url}, bench.env, workdir)
                sequential_log = log_stats(server.requests())
                sequential_rate = sequential["pages"] / sequential["wall"]
                rows.append([
                    tag, "sequential client pages/s (1 session, page by page)", f"{sequential_rate:.2f}",
                    f"provider {provider_rate:.2f}", f"provider = {provider_rate / sequential_rate:.2f}x",
                    f">= {TARGET_SPEEDUP_200MS}x" if latency == 200 else "(info)",
                    pass_fail(provider_rate >= TARGET_SPEEDUP_200MS * sequential_rate) if latency == 200 else "-",
                ])  # fmt: skip
                rows.append([
                    tag, "sequential: share answered 429", f"{sequential_log['share_429']:.2%}",
                    f"{sequential_log['statuses'].get(429, 0)} of {sequential_log['requests']} requests",
                    f"server-side rate {sequential_log['server_rate']:.2f}/s", "(info)", "-",
                ])  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=int, help="pages per throughput run (default 400; quick 100)")
    parser.add_argument("--latencies", help="comma-separated sandbox latencies in ms (default 50,200)")
    parser.add_argument(
        "--arrival-jitters",
        help="comma-separated sandbox arrival jitters in ms (random 0-N ms before the rate limit counts a request), "
        "each measured side by side (default 0,40)",
    )
    parser.add_argument(
        "--budgets",
        help="comma-separated: window (the shipped budget: slots and a log of actual sends), slots (slots only, as "
        "before the send log), side by side (default window)",
    )


def resolve_arguments(args: argparse.Namespace) -> None:
    args.pages = args.pages or (100 if args.quick else 400)
    args.latencies = [float(x) for x in (args.latencies or "50,200").split(",")]
    args.arrival_jitters = [float(x) for x in (args.arrival_jitters or "0,40").split(",")]
    args.budgets = (args.budgets or "window").split(",")
    if set(args.budgets) - set(BUDGETS):
        raise SystemExit(f"--budgets: choose from {', '.join(BUDGETS)}")


SECTION = Section("throughput", run, add_arguments, resolve_arguments)
