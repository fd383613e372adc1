"""The overall answer deadline covers the status line and headers: a server that trickles them (one byte
per interval, each read well within request_timeout) ends like a hang, after the retries; nothing is written.

Real HTTP against the sandbox's trickle_headers_pages switch, through the operator.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_lips.exceptions import LipsTransientError
from lips_sandbox import LipsSandbox
from tests.support import API_KEY, TOKEN, data_requests, lips_connection, pull, run

pytestmark = pytest.mark.integration


def connect(monkeypatch: pytest.MonkeyPatch, server: LipsSandbox, **extra: Any) -> None:
    extra.setdefault("requests_per_second", 500)
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, **extra))


def timers() -> list[threading.Thread]:
    """Watchdog timers still running a moment after their requests ended (a cancelled one ends at once)."""
    running = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]
    for thread in running:
        thread.join(timeout=2)
    return [thread for thread in running if thread.is_alive()]


def test_the_sandbox_trickles_the_status_line_and_headers(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(trickle_headers_pages=[1], trickle_interval_ms=20)
    began = time.monotonic()
    response = requests.get(
        f"{lips_conn.url}/contact_interactions",
        params={"global_master_advertiser_id": "USA_1"},
        headers={"Authorization": f"token {TOKEN}", "x-api-key": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["page"] == 1
    assert time.monotonic() - began >= 50 * 0.02, "a head of 50+ bytes, 20 ms apart"


def test_a_header_trickle_ends_at_the_deadline_after_the_retries(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One head byte per 0.3 s: every read is within request_timeout=5, only the overall deadline ends it."""
    lips_conn.configure(trickle_headers_pages=[1], trickle_interval_ms=300)
    connect(monkeypatch, lips_conn, response_deadline=1, request_timeout=5, max_attempts=2, retry_base_wait=0.05)
    started = time.monotonic()
    with pytest.raises(LipsTransientError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl")))
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert "failed after 2 attempt(s)" in message
    assert re.search(
        r"last problem: AnswerDeadlineExceeded \(the answer was not complete after 1\.\ds, past response_deadline=1s: "
        r"its status line and headers still arriving\)", message,
    ), message
    assert sum(1 for e in data_requests(lips_conn) if e["params"].get("page") == ["1"]) == 2
    assert 2.0 <= elapsed < 8, elapsed
    assert list(tmp_path.iterdir()) == [], "no file, no debris"
    assert timers() == [], "every watchdog timer ended with its request"


def test_a_normal_pull_is_untouched_by_the_watchdog(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same tight deadline on a healthy server, with no retry to hide a fired watchdog: complete, no timer left."""
    connect(monkeypatch, lips_conn, response_deadline=1, max_attempts=1)
    manifest = run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10))
    assert manifest["complete"] is True and manifest["pages"] >= 3
    assert timers() == []
