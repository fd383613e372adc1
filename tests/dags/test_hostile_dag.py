"""Hostile servers through `airflow dags test` of the daily DAG, as a user meets them (docs/hostile-servers.md).

The failing cases end in errors Airflow retries (LipsResponseError, LipsTransientError) after the DAG's retry
delay, so they are proven through the operator in tests/client and tests/pull; the lying page count succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from lips_sandbox import LipsSandbox
from tests.dags.support import Deployment
from tests.support import data_requests, expected_ids

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

LOGICAL_DATE = "2026-11-21"  # the interval 2026-11-20 .. 21, with the DAG's 10-day lookback
START, END = datetime(2026, 11, 10, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc)


def test_a_lying_page_count_loads_exactly_the_truth_in_few_requests(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox
) -> None:
    sandbox.configure(lie_total_pages=1_000_000)
    site = deployment(["USA_1"])
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE)
    assert run.returncode == 0, run.log[-3000:]
    assert site.warehouse_ids() == sorted(expected_ids(sandbox.interactions, START, END, global_master_advertiser_id="USA_1"))
    assert len(data_requests(sandbox)) < 100, len(data_requests(sandbox))
    assert "is empty although the listing announces 1000000 pages; it ends there" in run.log

