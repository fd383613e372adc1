"""``python -m lips_sandbox``: a separate process scripts can wait for and stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from lips_sandbox.process import SandboxProcess

pytestmark = pytest.mark.integration  # the sandbox CLI as a process


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled_and_exits_zero(tmp_path: Path, stop_signal: signal.Signals) -> None:
    sandbox = SandboxProcess(
        log=tmp_path / "sandbox.log",
        seed=4,
        interactions=300,
        start="2026-10-01",
        end="2026-10-08",
        token="T",
        api_key="K",
        max_per_page=50,
        malformed_pages=[2],
        forbidden_advertisers=["USA_3"],
        burst_429=5,
        event_type_style="class",
        totals_shape="flat",
        timestamp_offset_hours=-8,
    )
    with sandbox:
        url = sandbox.url
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        auth = {"Authorization": "token T", "x-api-key": "K"}
        listing = f"{url}/contact_interactions"
        first = requests.get(listing, params={"global_master_advertiser_id": "USA_1", "per_page": "500"}, headers=auth, timeout=30)
        body = first.json()
        assert first.status_code == 200 and body["per_page"] == 50 and len(body["contact_interactions"]) == 50
        assert all("2026-09-30" <= r["occurred_at"][:10] < "2026-10-08" for r in body["contact_interactions"])
        assert all(r["occurred_at"].endswith("-08:00") and r["event_type"].endswith("Event") for r in body["contact_interactions"])
        malformed = requests.get(listing, params={"global_master_advertiser_id": "USA_1", "page": "2"}, headers=auth, timeout=30)
        assert malformed.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(malformed.text)
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_3"}, headers=auth, timeout=30).status_code == 403
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_1"}, timeout=30).status_code == 401
        assert requests.get(listing, params={"global_master_advertiser_id": "USA_1"}, headers=auth, timeout=30).status_code == 429
        totals = requests.get(
            f"{url}/contact_interactions/totals", params={"global_master_advertiser_id": "USA_1"}, headers=auth, timeout=30
        )
        assert "totals" not in totals.json() and totals.json()["events"] >= body["per_page"]  # --totals-shape flat
        assert len(sandbox.requests()) == 6
        assert sandbox.stop(stop_signal) == 0
    # One line on stdout, nothing on stderr (both go to the log).
    assert sandbox.output.splitlines() == [sandbox.output.strip()]
    assert sandbox.output.startswith(f"LIPS sandbox listening on {url} (300 interactions")


def test_a_sandbox_that_cannot_start_fails_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"did not start:(.|\n)*error_rate"), SandboxProcess(interactions=5, error_rate=3):
        pass


def test_the_default_port_is_not_airflows() -> None:
    from lips_sandbox.__main__ import _parser

    assert _parser().parse_args([]).port == 8765


def test_help_shows_what_a_bare_start_serves() -> None:
    """A new user reads the address, token, advertisers, dates and every switch's default from --help."""
    wide = {**os.environ, "COLUMNS": "400"}  # no default wrapped in the middle
    result = subprocess.run([sys.executable, "-m", "lips_sandbox", "--help"], capture_output=True, text=True, timeout=60, env=wide)
    assert result.returncode == 0
    for default in ("(default: 127.0.0.1)", "(default: 8765)", "(default: sandbox-token)", "(default: USA_1,USA_2,USA_3)",
                    "(default: 5000)", "60 days before today", "(default: 100)", "(default: nested)"):
        assert default in result.stdout, default
    options = re.split(r"\n(?=  --)", result.stdout.split("\n  --", 1)[1])  # one chunk per option, name and help
    assert len(options) > 40 and [option.split()[0] for option in options if "(default: " not in option] == []


def test_cli_rejects_bad_settings() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lips_sandbox",
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
