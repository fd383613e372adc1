"""The daily DAG on an OAuth2 connection through Airflow: access tokens expire mid-pull, nothing is lost or leaked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment, everything_airflow_stored
from tests.support import OAUTH, expected_ids, lips_oauth_connection, oauth_sandbox_settings

pytestmark = pytest.mark.slow

ADVERTISERS = ["USA_1", "USA_2"]


def test_daily_dag_on_oauth2_renews_expiring_tokens_mid_pull_and_leaks_nothing(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox, interactions: list[dict], airflow_db: Path
) -> None:
    # One-second access tokens, pages of 5 and 200 ms per request: every pull outlives its first token,
    # and requests in flight when a token lapses meet 401s.
    sandbox.configure(**oauth_sandbox_settings(), oauth_access_token_seconds=1, max_per_page=5, latency_ms=200)
    site = deployment(ADVERTISERS)
    site.env["AIRFLOW_CONN_LIPS_DEFAULT"] = lips_oauth_connection(sandbox.url, concurrency=2, requests_per_second=500)
    site.env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "DEBUG"

    run = site.dags_test("lips_contact_interactions_daily", "2026-11-22", conf={"lookback": "P2D"})

    assert run.returncode == 0, run.log[-3000:]
    start, end = datetime(2026, 11, 19, tzinfo=timezone.utc), datetime(2026, 11, 22, tzinfo=timezone.utc)
    truth = set().union(*(expected_ids(interactions, start, end, global_master_advertiser_id=g) for g in ADVERTISERS))
    assert set(site.warehouse_ids()) == truth and len(truth) > 40

    grants = [(e["grant_type"], e["status"]) for e in sandbox.requests if e["path"] == "/oauth/token"]
    # One password grant for the batch's task process (its advertisers share one hook), then refreshes.
    assert grants.count(("password", 200)) == 1
    assert grants.count(("refresh_token", 200)) >= len(ADVERTISERS)
    api = [e for e in sandbox.requests if e["path"] != "/oauth/token"]
    assert all(e["headers"]["Authorization"].startswith("Bearer ") for e in api)
    assert {e["status"] for e in api} <= {200, 401}

    secrets = [OAUTH["client_secret"], OAUTH["password"], *sandbox.issued_tokens]
    assert len(secrets) >= 2 + 2 * (1 + len(ADVERTISERS))  # access and refresh token of every grant
    stored = everything_airflow_stored(airflow_db)
    assert "lips_contact_interactions_daily" in stored
    assert not [secret for secret in secrets if secret in stored]
    leaks = [line for line in run.log.splitlines() if any(secret in line for secret in secrets)]
    # `airflow dags test`'s in-process supervisor echoes its comms at DEBUG, the MaskSecret
    # requests (the act of masking) included; a deployed worker logs those with "body omitted".
    assert all("Sending request" in line and "msg=MaskSecret(" in line for line in leaks), leaks[:3]
