"""A full DAG run at DEBUG with a distinctive token and key: neither leaves the hook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment, everything_airflow_stored

pytestmark = pytest.mark.slow

TOKEN = "tok-LEAKCHECK-7f3a9c2e51"
API_KEY = "key-LEAKCHECK-b84d06e1f9"


def test_no_secret_in_logs_xcom_rendered_fields_manifests_errors_or_redirects(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox, interactions: list[dict], airflow_db: Path
) -> None:
    sandbox.configure(token=TOKEN, api_key=API_KEY)
    site = deployment(["USA_1", "USA_2"], token=TOKEN, api_key=API_KEY)
    site.env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "DEBUG"

    ok = site.dags_test("lips_contact_interactions_daily", "2026-11-22")
    assert ok.returncode == 0, ok.log[-3000:]
    assert "DEBUG" in ok.log.upper() and "urllib3" in ok.log  # the HTTP client's own debug lines were on
    assert site.warehouse_ids()

    # A run whose requests are redirected to another host fails there with 401, exceptions and all.
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY, host="127.0.0.2") as other:
        sandbox.configure(redirect_to=other.url)
        failed = site.dags_test("lips_contact_interactions_daily", "2026-11-23")
        received = other.requests
    assert "LIPS answered 401" in failed.log
    assert received and all(
        not {"authorization", "x-api-key"} & {name.lower() for name in entry["headers"]} for entry in received
    )
    assert TOKEN not in json.dumps(received) and API_KEY not in json.dumps(received)

    stored = everything_airflow_stored(airflow_db)
    assert "lips_contact_interactions_daily" in stored and "/occurred_date=2026-11-21/contact_interactions.jsonl" in stored
    assert TOKEN not in stored and API_KEY not in stored
    for console in (ok.log, failed.log):
        leaks = [line for line in console.splitlines() if TOKEN in line or API_KEY in line]
        # `airflow dags test` runs tasks under Airflow's in-process test supervisor, whose
        # comms echo every request at DEBUG, the MaskSecret requests (the act of masking)
        # included; a deployed worker's supervisor logs these with "body omitted".
        assert all("Sending request" in line and "msg=MaskSecret(" in line for line in leaks), leaks[:3]
