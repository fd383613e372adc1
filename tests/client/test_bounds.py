"""Bounded answers: a body larger than max_response_bytes is refused while it is read, and an answer not
complete within response_deadline (a trickle) is retried like a hang, then fails; nothing is written.

Real HTTP against the sandbox's hostile switches (huge_pages, trickle_pages), through the operator.
One test streams a genuine 1.5 GiB body to a task in its own process and reads its peak RSS.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError, LipsTransientError
from lips_sandbox import LipsSandbox
from tests.support import REPO, data_requests, lips_connection, pull, run

MiB = 1 << 20
GiB = 1 << 30


def connect(monkeypatch: pytest.MonkeyPatch, server: LipsSandbox, **extra: Any) -> None:
    extra.setdefault("requests_per_second", 500)
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, **extra))


def listing_requests(server: LipsSandbox, page: int) -> int:
    return sum(1 for e in data_requests(server) if e["path"] == "/contact_interactions" and e["params"]["page"] == [str(page)])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_above_max_response_bytes_is_refused_once_with_nothing_written(
    chunked: bool, lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lips_conn.configure(huge_pages=[2], huge_body_bytes=5 * MiB, huge_body_chunked=chunked)
    connect(monkeypatch, lips_conn, max_response_bytes=str(2 * MiB))  # as text, as a form may save it
    started = time.monotonic()
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10))
    message = str(raised.value)
    assert message.startswith("GET /contact_interactions?global_master_advertiser_id=USA_1&")
    assert "&page=2&per_page=10 answered 200 with a body" in message
    if chunked:
        assert "larger than max_response_bytes=2097152 (2.0 MiB); reading stopped there" in message
    else:
        assert "of 5.0 MiB (Content-Length), more than max_response_bytes=2097152 (2.0 MiB); nothing was read" in message
    assert "raise extra 'max_response_bytes'" in message
    assert listing_requests(lips_conn, 2) == 1, "the same request would get the same answer: not retried"
    assert list(tmp_path.iterdir()) == [], "no file, no debris"
    assert time.monotonic() - started < 30


def test_the_default_bound_lets_every_real_page_through(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    """64 MiB by default: a normal pull is untouched (and a 1000-record page is a few MiB at most)."""
    manifest = run(pull(destination=str(tmp_path / "out.jsonl")))
    assert manifest["complete"] is True and manifest["records"] > 0


def test_a_trickle_ends_like_a_hang_after_the_retries(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Headers at once, then a byte every 0.3 s: each try ends at response_deadline, retried like a timeout."""
    lips_conn.configure(trickle_pages=[1], trickle_interval_ms=300)
    connect(monkeypatch, lips_conn, response_deadline="1.5", max_attempts=2, retry_base_wait=0.05)
    started = time.monotonic()
    with pytest.raises(LipsTransientError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl")))
    elapsed = time.monotonic() - started
    assert "failed after 2 attempt(s)" in str(raised.value)
    assert re.search(
        r"last problem: AnswerDeadlineExceeded \(the answer was not complete after \d+\.\ds, past response_deadline=1\.5s, "
        r"with \d+ bytes of its body\)", str(raised.value),
    ), str(raised.value)
    assert listing_requests(lips_conn, 1) == 2
    assert 3.0 <= elapsed < 15, elapsed
    assert list(tmp_path.iterdir()) == []


def test_an_answer_within_its_deadline_is_read_whole(
    lips_conn: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The contrast: the same slow answer with a deadline it can meet arrives complete."""
    lips_conn.configure(trickle_pages=[3], trickle_interval_ms=0.2)
    connect(monkeypatch, lips_conn, response_deadline=60)
    manifest = run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10))
    assert manifest["complete"] is True and manifest["pages"] >= 3


_TASK = """
import json, resource, sys, time
from datetime import datetime
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
started = time.monotonic()
operator = LipsContactInteractionsOperator(task_id="pull", global_master_advertiser_id="USA_1", destination=sys.argv[1])
try:
    operator.execute({"data_interval_start": datetime(2026, 11, 20), "data_interval_end": datetime(2026, 11, 21)})
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"error": error, "seconds": time.monotonic() - started, "peak_rss": peak}))
"""


def test_a_genuine_1_5_gib_answer_fails_with_bounded_memory(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    """The sandbox streams 1.5 GiB (chunked: no length to refuse it by); the task, in its own process with the
    default 64 MiB bound, stops reading there: its peak RSS stays far below the body's size."""
    lips_conn.configure(huge_pages=[1], huge_body_chunked=True)
    out = tmp_path / "lake"
    out.mkdir()
    env = {**os.environ, "AIRFLOW_CONN_LIPS_DEFAULT": lips_connection(lips_conn.url)}
    done = subprocess.run(
        [sys.executable, "-c", _TASK, str(out / "out.jsonl")], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["error"] is not None and seen["error"].startswith("AnswerTooLarge: GET /contact_interactions?"), seen
    assert "larger than max_response_bytes=67108864 (64.0 MiB)" in seen["error"]
    assert seen["peak_rss"] < 1 * GiB, seen
    assert seen["seconds"] < 300
    assert list(out.iterdir()) == []
    print(f"1.5 GiB answer: {seen['error'][:60]}... after {seen['seconds']:.1f}s, peak RSS {seen['peak_rss'] / MiB:.0f} MiB")


class _RunawayRedirect(BaseHTTPRequestHandler):
    """A 302 whose body never ends (chunked, 1 MiB pieces until the client hangs up)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"x" * MiB
        try:
            while True:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_a_redirect_with_a_runaway_body_is_refused_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """requests reads a redirect's body itself before following it: the bound applies there as well."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RunawayRedirect)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(url, max_response_bytes=2 * MiB))
        started = time.monotonic()
        with pytest.raises(LipsResponseError, match=r"GET /contact_interactions \(a redirect\) answered 302 with a body larger than "
                           r"max_response_bytes=2097152 \(2\.0 MiB\)"):
            run(pull(destination=str(tmp_path / "out.jsonl")))
        assert time.monotonic() - started < 30
        assert list(tmp_path.iterdir()) == []
    finally:
        server.shutdown()
        server.server_close()
