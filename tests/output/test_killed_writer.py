"""A task process killed with SIGKILL mid-walk leaves a ``.partial``; the next successful write removes it.

A concurrent writer's temporary file, still being written, is never removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox
from tests.support import API_KEY, TOKEN, WEEK, expected_ids, lips_connection, pull, run

pytestmark = pytest.mark.integration  # a task process killed mid-write, sandboxes

# The operator in a task process of its own, as a worker runs it.
TASK = """
import sys
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

operator = LipsContactInteractionsOperator(
    task_id="pull", global_master_advertiser_id="USA_1", destination=sys.argv[1], per_page=10, concurrency=1,
    window_start=sys.argv[2], window_end=sys.argv[3],
)
operator.execute({})
"""


def start_task(url: str, destination: Path, start: str, end: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AIRFLOW_CONN_LIPS_DEFAULT": lips_connection(url, requests_per_second=500)}
    return subprocess.Popen(
        [sys.executable, "-c", TASK, f"file://{destination}", start, end],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def partials(folder: Path, pid: int) -> list[Path]:
    return [p for p in folder.glob(".contact_interactions.jsonl.*.partial") if f"-{pid}-" in p.name]


def wait_for(condition: object, what: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            raise AssertionError(f"{what}: the task exited {process.returncode}: {process.stderr.read() if process.stderr else ''}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_a_sigkilled_task_leaves_a_partial_that_the_next_write_removes_and_a_live_ones_stays(
    interactions: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "gmaid=USA_1" / "contact_interactions.jsonl"
    with (
        LipsSandbox(interactions, token=TOKEN, api_key=API_KEY, max_per_page=10, latency_ms=50) as slow,
        LipsSandbox(interactions, token=TOKEN, api_key=API_KEY, max_per_page=10, latency_ms=50) as held,
        LipsSandbox(interactions, token=TOKEN, api_key=API_KEY) as fast,
    ):
        killed = start_task(slow.url, target, "2026-11-10", "2026-11-17")
        concurrent = start_task(held.url, target, "2026-11-01", "2026-11-29")
        try:

            def killed_wrote_pages() -> bool:
                found = partials(target.parent, killed.pid)
                return bool(found) and found[0].stat().st_size > 20_000  # a few pages flushed

            wait_for(killed_wrote_pages, "the first task wrote some pages", killed)
            killed.send_signal(signal.SIGKILL)
            assert killed.wait(10) == -signal.SIGKILL
            (leftover,) = partials(target.parent, killed.pid)
            assert not target.exists()  # nothing half-written took the target's name
            assert leftover.read_bytes().count(b"\n") >= 10 and not leftover.read_bytes().endswith(b"}\n}")
            wait_for(lambda: bool(partials(target.parent, concurrent.pid)), "the second task is writing", concurrent)
            held.configure(latency_ms=1000)  # keeps the second task mid-walk while the next run writes

            # The next run of the task, here in this process, against a fast vendor.
            monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(fast.url, requests_per_second=500))
            manifest = run(pull(destination=f"file://{target}"), *WEEK)

            assert not leftover.exists()
            (live,) = partials(target.parent, concurrent.pid)  # the live writer's temporary file is untouched
            week = expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
            lines = target.read_text().splitlines()
            assert manifest["records"] == len(lines) and {json.loads(line)["id"] for line in lines} == week

            # The concurrent task finishes normally: its file replaces the target, and no temporary file is left.
            held.configure(latency_ms=0)
            assert concurrent.wait(60) == 0, concurrent.stderr.read() if concurrent.stderr else ""
            assert not live.exists()
            assert [p.name for p in target.parent.iterdir()] == [target.name]
            month = expected_ids(interactions, *[WEEK[0].replace(day=1), WEEK[0].replace(day=29)], global_master_advertiser_id="USA_1")
            assert {json.loads(line)["id"] for line in target.read_text().splitlines()} == month
        finally:
            for process in (killed, concurrent):
                if process.poll() is None:
                    process.kill()
                    process.wait()
