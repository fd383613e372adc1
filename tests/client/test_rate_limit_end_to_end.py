"""The client's rate limit as the server sees it: request times from the sandbox's log, real HTTP.

LIPS allows 20 requests per second per client and answers 429 beyond it; a 429 must hold
every request of the task, not only the one that got it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import API_KEY, DATA_END, DATA_START, TOKEN, busiest_second, data_requests, expected_ids, lips_connection, pull, run

pytestmark = pytest.mark.integration  # sandboxes of its own

PAGE = 10


@pytest.fixture(scope="module")
def data() -> list[dict]:
    """700 interactions of one advertiser: 70 pages of 10."""
    return generate_interactions(seed=3, count=700, start=DATA_START, end=DATA_END, advertisers=("USA_1",))


def limited_pull(monkeypatch: pytest.MonkeyPatch, server: LipsSandbox, requests_per_second: float, **kwargs: Any) -> list[dict]:
    """Pull November with the connection's client-side limit set to ``requests_per_second``."""
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, requests_per_second=requests_per_second))
    return run(pull(per_page=PAGE, concurrency=8, **kwargs), DATA_START, DATA_END)


def test_twenty_per_second_is_never_exceeded(data: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    with LipsSandbox(data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE, rate_limit_rps=20, latency_ms=20) as server:
        records = limited_pull(monkeypatch, server, requests_per_second=20)
        log = data_requests(server)
    listing = [e for e in log if e["path"] == "/contact_interactions"]
    assert len(listing) >= 60, "enough pages for the limit to matter"
    statuses = Counter(e["status"] for e in log)
    assert statuses == {200: len(log)}, f"the server had to refuse requests: {statuses}"
    times = [e["time"] for e in log]
    assert busiest_second(times) <= 20
    # The limiter paces rather than crawls: the pull ran close to the allowed rate.
    achieved = (len(times) - 1) / (max(times) - min(times))
    assert achieved >= 14, f"only {achieved:.1f} requests/s"
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(data, DATA_START, DATA_END)


def test_a_client_allowed_more_than_the_server_gets_throttled_and_still_completes(
    data: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection set to 60/s against a server that allows 20/s: 429s, pauses, and a complete pull."""
    with LipsSandbox(data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE, rate_limit_rps=20, latency_ms=5) as server:
        records = limited_pull(monkeypatch, server, requests_per_second=60, completeness="off")
        log = data_requests(server)
    statuses = Counter(e["status"] for e in log)
    assert statuses[429] >= 1 and set(statuses) == {200, 429}
    assert statuses[200] == math.ceil(len(expected_ids(data, DATA_START, DATA_END)) / PAGE)  # each page once
    assert busiest_second([e["time"] for e in log if e["status"] == 200]) <= 20
    assert {r["id"] for r in records} == expected_ids(data, DATA_START, DATA_END)


# Retry-After as delta-seconds ("1"), as an HTTP date (the next whole second or later), or absent, as the
# vendor documents it (the client holds for one full rate-limit window).
PAUSES = {
    "retry-after-seconds": "seconds",
    "retry-after-http-date": "http-date",
    "no-retry-after": "none",
}


@pytest.mark.parametrize("retry_after_format", PAUSES.values(), ids=PAUSES.keys())
def test_a_429_pauses_every_concurrent_request(data: list[dict], monkeypatch: pytest.MonkeyPatch, retry_after_format: str) -> None:
    """Request 5 gets 429 while 8 pages are in flight: after its answer, none of the 8 threads sends a thing until the wait ends."""
    latency = 0.02
    with LipsSandbox(
        data, token=TOKEN, api_key=API_KEY, max_per_page=PAGE, burst_429=[5], retry_after_format=retry_after_format,
        latency_ms=latency * 1000,
    ) as server:
        records = limited_pull(monkeypatch, server, requests_per_second=200, completeness="off")
        log = data_requests(server)
    refused = [e for e in log if e["status"] == 429]
    assert len(refused) == 1
    t429 = refused[0]["time"]
    # The 429 reaches the client `latency` after the server received it; requests already on
    # their way may still arrive until shortly after. Then nothing until the wait is over.
    quiet_from = t429 + latency + 0.08
    if retry_after_format == "seconds":
        quiet_until = t429 + latency + 1.0
    elif retry_after_format == "http-date":
        quiet_until = math.floor(t429 + latency) + 1.0  # the header names a whole second
    else:
        quiet_until = t429 + latency + 1.0  # one full window: past the end of the vendor's, whatever its alignment
    during = [e["time"] - t429 for e in log if quiet_from < e["time"] < quiet_until - 0.002]
    assert during == [], f"requests sent while the client should have been paused: {during}"
    after = [e for e in log if e["time"] >= quiet_until - 0.002]
    assert after, "the pull resumed after the pause"
    before = [e for e in log if e["time"] <= quiet_from]
    assert len(before) >= 5
    # Every page was fetched and nothing was lost or doubled.
    pages = Counter(e["params"]["page"][0] for e in log if e["status"] == 200)
    assert set(pages.values()) == {1}
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(data, DATA_START, DATA_END)
