"""``python -m airflow_provider_lips.testing.sandbox``: a separate process scripts can wait for and stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled_and_exits_zero(tmp_path: Path, stop_signal: signal.Signals) -> None:
    ready = tmp_path / "url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_lips.testing.sandbox",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--seed",
            "4",
            "--interactions",
            "300",
            "--start",
            "2026-10-01",
            "--end",
            "2026-10-08",
            "--token",
            "T",
            "--api-key",
            "K",
            "--max-per-page",
            "50",
            "--malformed-pages",
            "2",
            "--forbidden-advertisers",
            "USA_3",
            "--burst-429",
            "5",
            "--event-type-style",
            "class",
            "--totals-shape",
            "flat",
            "--timestamp-offset-hours",
            "-8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "sandbox did not become ready"
            time.sleep(0.05)
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        auth = {"Authorization": "token T", "x-api-key": "K"}
        listing = f"{url}/contact_interactions"
        first = requests.get(listing, params={"global_master_advertiser_id": "USA_1", "per_page": "500"}, headers=auth)
        body = first.json()
        assert first.status_code == 200 and body["per_page"] == 50 and len(body["contact_interactions"]) == 50
        assert all("2026-09-30" <= r["occurred_at"][:10] < "2026-10-08" for r in body["contact_interactions"])
        assert all(r["occurred_at"].endswith("-08:00") and r["event_type"].endswith("Event") for r in body["contact_interactions"])
        malformed = requests.get(listing, params={"global_master_advertiser_id": "USA_1", "page": "2"}, headers=auth)
        assert malformed.status_code == 200
        try:
            json.loads(malformed.text)
            raise AssertionError("page 2 should not parse")
        except json.JSONDecodeError:
            pass
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_3"}, headers=auth).status_code == 403
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_1"}).status_code == 401
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_1"}, headers=auth).status_code == 429
        totals = requests.get(f"{url}/contact_interactions/totals", params={"global_master_advertiser_id": "USA_1"}, headers=auth)
        assert "totals" not in totals.json() and totals.json()["events"] >= body["per_page"]  # --totals-shape flat
        assert len(requests.get(f"{url}/_sandbox/requests").json()) == 6
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stdout.startswith(f"LIPS sandbox listening on {url} (300 interactions")
    assert stderr == ""


def test_cli_rejects_bad_settings() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_lips.testing.sandbox",
            "--port",
            "0",
            "--interactions",
            "5",
            "--error-rate",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "error_rate" in result.stderr
