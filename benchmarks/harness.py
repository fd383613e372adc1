"""What every benchmark section shares: constants, the bench context, the sandbox, workers in fresh processes.

The orchestrator side (this module and the sections' ``run``) never imports Airflow; each
measured pull runs in a fresh ``bench_pull.py --worker`` process (see :func:`run_worker`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lips_sandbox.process import SandboxProcess

REPO = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).resolve().parent / "bench_pull.py"
DAGS = REPO / "airflow_provider_lips" / "example_dags"
TOKEN = "bench-token"
ADVERTISER = "USA_1"
PER_PAGE = 100
RATE_LIMIT = 20.0
# All generated data occurs inside this window, so every generated interaction is pulled.
WINDOW_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
WINDOW_END = datetime(2026, 3, 1, tzinfo=timezone.utc)
RESULT_PREFIX = "BENCH_RESULT "
NO_CLIENT_LIMIT = 1_000_000.0  # the connection cannot switch the client limiter off; this is "off" in practice

Worker = Callable[[dict[str, Any]], dict[str, Any]]
# kind -> function run inside a fresh worker process; filled by @worker in workers.py and the sections.
WORKERS: dict[str, Worker] = {}


def worker(kind: str) -> Callable[[Worker], Worker]:
    """Register a function that :func:`run_worker` can run in a fresh process as ``{"kind": kind, ...}``."""

    def register(function: Worker) -> Worker:
        WORKERS[kind] = function
        return function

    return register


@dataclass
class Bench:
    """One benchmark run: its arguments and environment, and what the sections report.

    ``rows`` become the table (Section, Measurement, Value, Compared with, Ratio / detail,
    Target, Result); ``notes`` print under it; ``appendix`` blocks print last (profiles).
    """

    args: argparse.Namespace
    env: dict[str, str]
    workdir: Path
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    appendix: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """A part of the benchmark: ``--only <name>`` selects it; see benchmarks/README.md to add one.

    ``add_arguments`` declares its flags; ``resolve_arguments`` fills their defaults once
    parsed (``args.quick`` asks for a small run).
    """

    name: str
    run: Callable[[Bench], None]
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    resolve_arguments: Callable[[argparse.Namespace], None] = lambda args: None


def sandbox(bench: Bench, *, interactions: int, latency_ms: float = 0, rate_limit: float | None = None) -> SandboxProcess:
    """The LIPS sandbox in its own process, with the benchmark's data (use as a context manager)."""
    from lips_sandbox.process import SandboxProcess

    return SandboxProcess(
        log=bench.workdir / f"sandbox-{time.monotonic_ns()}.log",
        startup_timeout=120,
        cwd=REPO,
        seed=7,
        interactions=interactions,
        advertisers=ADVERTISER,
        start=WINDOW_START,
        end=WINDOW_END,
        token=TOKEN,
        max_per_page=PER_PAGE,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
    )


def run_worker(spec: dict[str, Any], env: dict[str, str], workdir: Path, timeout: float = 900) -> dict[str, Any]:
    """Run ``WORKERS[spec["kind"]](spec)`` in a fresh process and return its result."""
    return finish_worker(start_worker(spec, env, workdir), timeout)


def start_worker(spec: dict[str, Any], env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """Start ``WORKERS[spec["kind"]](spec)`` in a fresh process; :func:`finish_worker` reads its result.

    Sections that run workers side by side start them all, then finish them all.
    """
    stderr_path = workdir / f"worker-{spec['kind']}-{time.monotonic_ns()}.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), "--worker", json.dumps(spec)], stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=REPO
        )
    process.stderr_path = stderr_path  # type: ignore[attr-defined]
    return process


def finish_worker(process: subprocess.Popen[bytes], timeout: float = 900) -> dict[str, Any]:
    """Wait for a worker from :func:`start_worker` and return its result (killing it on timeout)."""
    try:
        out_bytes, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out_bytes, _ = process.communicate()
    out = out_bytes.decode(errors="replace")
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = process.stderr_path.read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]
    raise RuntimeError(f"worker {process.args!r} failed (exit {process.returncode}):\n{out[-1000:]}\n{tail}")


def worker_main(raw: str) -> int:
    """The ``--worker`` side: run one registered worker, print its result line."""
    spec = json.loads(raw)
    result = WORKERS[spec["kind"]](spec)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def base_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{workdir}/airflow.db",
        }
    )
    (workdir / "airflow-home").mkdir(exist_ok=True)
    return env


def operator_env(
    env: dict[str, str], url: str, requests_per_second: float, *, token: str = TOKEN, **extra: Any
) -> dict[str, str]:
    """``env`` with the ``lips_bench`` connection the operator worker uses (``extra``: more connection extras)."""
    connection = {
        "conn_type": "lips", "host": url, "password": token, "extra": {"requests_per_second": requests_per_second, **extra}
    }  # fmt: skip
    return {**env, "AIRFLOW_CONN_LIPS_BENCH": json.dumps(connection)}


def log_stats(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Status counts of listing requests and the rate at which the server admitted them."""
    listing = [e for e in entries if e.get("path") == "/contact_interactions"]
    statuses: dict[int, int] = {}
    for entry in listing:
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    ok_times = sorted(e["time"] for e in listing if e["status"] == 200)
    span = ok_times[-1] - ok_times[0] if len(ok_times) > 1 else 0.0
    sent = sorted(e["time"] for e in listing)  # when each reached the server, before any arrival jitter
    return {
        "requests": len(listing),
        "statuses": statuses,
        "share_429": statuses.get(429, 0) / len(listing) if listing else 0.0,
        "server_rate": (len(ok_times) - 1) / span if span else 0.0,
        "busiest_second": max((bisect_left(sent, t + 1.0) - i for i, t in enumerate(sent)), default=0),
    }


def slots_only() -> None:
    """In a worker: the shared budget as it was before its send log (evenly spaced slots only), for contrast."""
    import airflow_provider_lips.client.ratebudget as ratebudget

    ratebudget.send_window = lambda *args: None  # type: ignore[assignment]


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
