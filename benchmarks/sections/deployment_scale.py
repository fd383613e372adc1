"""8. Agency scale in a real deployment: the daily DAG (batches of advertisers) vs one task group per advertiser.

A scheduler, dag-processor and api-server with LocalExecutor on PostgreSQL (the deployment tests'
``AirflowDeployment``) run each DAG shape for N advertisers, one after the other, against the sandbox
at 20 requests/s with 100 ms answers; the data are spread as agencies see them (campaign volumes
fall off as 1/rank: most advertisers hold a few interactions a day, a few hold dozens), and one
advertiser answers 403. Per shape: wall time (run start to end), task instances, data requests sent
against the minimum the data needs (per advertiser and listing, the pages it spans, at least one),
the time those requests take at the limit (API-bound time), CPU seconds of the whole deployment
per advertiser, and whether the warehouse equals the vendor's truth for every other advertiser.

    .venv/bin/python benchmarks/bench_pull.py --only deployment_scale --advertisers 100,500
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness import REPO, TOKEN, Bench, Section, pass_fail

LIMIT = 20.0  # requests/s: the vendor's limit, the sandbox's and the connection's
LATENCY_MS = 100.0
PER_DAY = 8.0  # interactions per advertiser per day on average (the 200 advertisers: 18,145 in 11 days)
DATA_DAYS = 21
SHAPES = {
    "batches": "lips_contact_interactions_daily",
    "per advertiser": "lips_contact_interactions_per_advertiser",
}
BATCH_SIZE = 100  # the daily DAG's default
WALL_SLACK, WALL_OFFSET, REQUESTS_SLACK = 1.3, 60.0, 1.15


def _deployment_cpu(processes: dict[str, Any]) -> float:
    """CPU seconds used so far by the deployment: every process in the services' sessions (each service is
    started as a session leader; scheduler, executors and task processes stay in theirs), with the
    children they reaped. Linux only (/proc)."""
    sessions = {popen.pid for popen in processes.values()}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _minimum_and_sent(log: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(the requests the data needs, data requests sent, 429s) in a slice of the sandbox's request log."""
    pages: dict[tuple[str, bool], int] = defaultdict(lambda: 1)
    sent = refused = 0
    for entry in log:
        if not entry["path"].startswith("/contact_interactions"):
            continue
        sent += 1
        refused += entry["status"] == 429
        params = entry["params"]
        key = (params.get("global_master_advertiser_id", ["?"])[0], "archived" in params)
        if entry["path"] == "/contact_interactions" and entry["status"] == 200:
            pages[key] = max(pages[key], int(params.get("page", ["1"])[0]))
    return sum(pages.values()), sent, refused


def _timeline(task_instances: list[dict[str, Any]], log: list[dict[str, Any]], start: datetime) -> str:
    """Where a run's time went: each task's start and end (seconds after the run's start; mapped tasks as
    the range of their instances) and the data requests the sandbox received in each 20 s."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ti in task_instances:
        if ti.get("start_date") and ti.get("end_date"):
            spans[ti["task_id"]].append(
                ((_utc(ti["start_date"]) - start).total_seconds(), (_utc(ti["end_date"]) - start).total_seconds())
            )
    tasks = "; ".join(
        f"{task} x{len(runs)} start {min(a for a, _ in runs):.0f}-{max(a for a, _ in runs):.0f}s "
        f"end {min(b for _, b in runs):.0f}-{max(b for _, b in runs):.0f}s"
        for task, runs in sorted(spans.items(), key=lambda item: min(a for a, _ in item[1]))
    )
    buckets: dict[int, int] = defaultdict(int)
    for entry in log:
        if entry["path"].startswith("/contact_interactions"):
            buckets[int((entry["time"] - start.timestamp()) // 20)] += 1
    rates = " ".join(str(buckets.get(i, 0)) for i in range(max(buckets, default=-1) + 1))
    return f"{tasks}; data requests per 20 s: {rates}"


def _drop_warehouse(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg2", "postgresql"), autocommit=True) as conn:
        for table in ("lips_contact_interactions", "lips_contacts", "lips_pii_keys"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _warehouse_ids(url: str) -> set[int]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg2", "postgresql")) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM lips_contact_interactions")}


def _run_shape(
    bench: Bench, airflow: Any, sandbox: Any, warehouse: str, shape: str, gmaids: list[str], logical_date: str
) -> dict[str, Any]:
    """Trigger one DAG shape for ``gmaids`` and measure its run."""
    from tests.support import expected_ids

    client, dag_id = airflow.client, SHAPES[shape]
    forbidden = gmaids[len(gmaids) // 3]
    sandbox.configure(forbidden_advertisers=[forbidden])
    _drop_warehouse(warehouse)
    mark, cpu = len(sandbox.requests), _deployment_cpu(airflow.processes)
    conf = {"advertisers": gmaids, "base_uri": f"file://{bench.workdir}/lake-{dag_id}-{len(gmaids)}"}
    run_id = client.trigger(dag_id, logical_date=logical_date, conf=conf)
    run = client.wait_for_run(dag_id, run_id, timeout=7200)
    cpu = _deployment_cpu(airflow.processes) - cpu
    log = sandbox.requests[mark:]
    minimum, sent, refused = _minimum_and_sent(log)
    task_instances = client.task_instances(dag_id, run_id)
    start = _utc(run["data_interval_start"]) - timedelta(days=10)
    end = _utc(run["data_interval_end"])
    wanted, owner = set(gmaids) - {forbidden}, {r["id"]: r["global_master_advertiser_id"] for r in sandbox.interactions}
    truth = {i for i in expected_ids(sandbox.interactions, start, end) if owner[i] in wanted}  # one pass, not one per advertiser
    return {
        "timeline": _timeline(task_instances, log, _utc(run["start_date"])),
        "wall": (_utc(run["end_date"]) - _utc(run["start_date"])).total_seconds(),
        "state": run["state"],
        "task_instances": len(task_instances),
        "sent": sent,
        "minimum": minimum,
        "refused": refused,
        "cpu": cpu,
        "truth": _warehouse_ids(warehouse) == truth and bool(truth),
    }


def run(bench: Bench) -> None:
    sys.path.insert(0, str(REPO))
    from lips_sandbox import LipsSandbox, generate_interactions
    from tests.deployment.harness import AirflowDeployment
    from tests.support import API_KEY

    args, rows, notes, workdir = bench.args, bench.rows, bench.notes, bench.workdir
    largest = max(args.advertisers)
    gmaids = [f"USA_{n}" for n in range(1, largest + 1)]
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    data = generate_interactions(
        seed=29, count=int(largest * PER_DAY * DATA_DAYS), start=today - timedelta(days=DATA_DAYS - 1), end=today + timedelta(days=1),
        advertisers=gmaids,
    )
    # One logical date per run of a DAG (Airflow refuses a second run at the same one), each the same day.
    logical_dates = {
        n: (today - timedelta(days=3, minutes=-i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i, n in enumerate(sorted(args.advertisers))
    }
    dags = workdir / "deployment-dags"
    dags.mkdir(exist_ok=True)
    (dags / "lips_contact_interactions_daily.py").symlink_to(REPO / "airflow_provider_lips/example_dags/lips_contact_interactions_daily.py")
    (dags / "lips_contact_interactions_per_advertiser.py").symlink_to(REPO / "benchmarks/dags/lips_contact_interactions_per_advertiser.py")
    started = time.monotonic()
    with LipsSandbox(
        data, token=TOKEN, api_key=API_KEY, latency_ms=LATENCY_MS, rate_limit_rps=LIMIT
    ) as sandbox, AirflowDeployment(workdir / "deployment", dags_folder=dags, parallelism=args.deployment_parallelism) as airflow:
        client = airflow.client
        warehouse = airflow.databases.create("lips_warehouse")
        client.create_connection("lips_default", "lips", host=sandbox.url, password=TOKEN,
                                 extra={"api_key": API_KEY, "requests_per_second": LIMIT})
        client.create_connection("lips_warehouse", "postgres", host="127.0.0.1", port=5432, login="postgres",
                                 schema=warehouse.rsplit("/", 1)[1])
        # The scheduler's own run on unpausing pulls one advertiser with no data, before anything is measured.
        client.set_variable("lips_advertisers", ["USA_0"])
        client.set_variable("lips_base_uri", f"file://{workdir}/lake-scheduled")
        for dag_id in SHAPES.values():
            client.wait_for_dag(dag_id)
            client.unpause(dag_id)
        for dag_id in SHAPES.values():
            for scheduled in client.dag_runs(dag_id):
                client.wait_for_run(dag_id, scheduled["dag_run_id"], timeout=600)
        notes.append(f"deployment_scale: deployment up and idle after {time.monotonic() - started:.0f}s "
                     f"(LocalExecutor, parallelism {args.deployment_parallelism}, PostgreSQL).")
        for n in sorted(args.advertisers):
            chosen = gmaids[:: largest // n][:n]  # every k-th: the same spread of sizes whatever N
            shapes = [s for s in SHAPES if s == "batches" or n <= args.per_advertiser_max]
            results = {shape: _run_shape(bench, airflow, sandbox, warehouse, shape, chosen, logical_dates[n]) for shape in shapes}
            _report(rows, n, results)
            notes.extend(f"deployment_scale {n} {shape}: {r['timeline']}" for shape, r in results.items())
            if n > args.per_advertiser_max:
                notes.append(f"deployment_scale: the per-advertiser shape was not run at {n} advertisers "
                             f"(--per-advertiser-max {args.per_advertiser_max}: it grows by 3 task instances per advertiser).")


def _report(rows: list[list[str]], n: int, results: dict[str, dict[str, Any]]) -> None:
    section = f"8 Deployment scale, {n} advertisers (1 answers 403), {LIMIT:.0f} req/s, {LATENCY_MS:.0f} ms"
    reference = results.get("per advertiser")
    for shape, r in results.items():
        api = r["sent"] / LIMIT
        batches = shape == "batches"
        wall_target = WALL_SLACK * api + WALL_OFFSET
        compared = f"per advertiser {reference['wall']:.0f}s" if batches and reference else "-"
        ratio = f"{reference['wall'] / r['wall']:.1f}x faster" if batches and reference else f"{r['wall'] / api:.1f}x API-bound time"
        rows.append([section, f"{shape}: wall time, run start to end ({r['state']})", f"{r['wall']:.0f}s", compared, ratio,
                     f"<= {WALL_SLACK} x {api:.0f}s + {WALL_OFFSET:.0f}s" if batches else "(reference)",
                     pass_fail(r["wall"] <= wall_target) if batches and n >= 500 else "-"])
        # advertisers, the batches, publish, publish_days (Airflow 3.2+), every_advertiser_landed
        task_target = 4 + math.ceil(n / BATCH_SIZE)
        rows.append([section, f"{shape}: task instances", f"{r['task_instances']}", f"{n} advertisers", "-",
                     f"<= {task_target}" if batches else "(reference)", pass_fail(r["task_instances"] <= task_target) if batches else "-"])
        rows.append([section, f"{shape}: data requests sent ({r['refused']} answered 429)", f"{r['sent']}",
                     f"minimum {r['minimum']}", f"{r['sent'] / r['minimum']:.2f}x the minimum",
                     f"<= {REQUESTS_SLACK}x", pass_fail(r["sent"] <= REQUESTS_SLACK * r["minimum"])])
        rows.append([section, f"{shape}: API-bound time (requests / limit)", f"{api:.0f}s", f"minimum {r['minimum'] / LIMIT:.0f}s",
                     f"wall is {r['wall'] / api:.1f}x", "-", "-"])
        rows.append([section, f"{shape}: deployment CPU per advertiser", f"{r['cpu'] / n:.2f}s", f"{r['cpu']:.0f}s in all",
                     "-", "-", "-"])
        rows.append([section, f"{shape}: warehouse equals the truth (all but the 403)", "yes" if r["truth"] else "NO", "-", "-",
                     "yes", pass_fail(r["truth"])])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--advertisers", help="comma-separated advertiser counts for deployment_scale (default 100,500,1000)")
    parser.add_argument("--per-advertiser-max", type=int, help="largest count the per-advertiser shape runs at (default 200)")
    parser.add_argument("--deployment-parallelism", type=int, help="LocalExecutor parallelism (default 16)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.advertisers = [int(n) for n in (args.advertisers or ("100" if args.quick else "100,500,1000")).split(",")]
    args.per_advertiser_max = args.per_advertiser_max if args.per_advertiser_max is not None else 200
    args.deployment_parallelism = args.deployment_parallelism or 16


SECTION = Section("deployment_scale", run, add_arguments, resolve_arguments)
