"""Fault switches: each observable over HTTP, deterministic from fault_seed, never applied to /_sandbox/."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from lips_sandbox import LipsSandbox
from lips_sandbox.data import parse_timestamp
from tests.sandbox.sandbox_support import SANDBOX_TOKEN

Serve = Callable[..., LipsSandbox]
USA_1 = {"global_master_advertiser_id": "USA_1"}


def statuses(
    client: requests.Session, sandbox: LipsSandbox, count: int, path: str = "/contact_interactions"
) -> list[int]:
    return [client.get(f"{sandbox.url}{path}", params=USA_1).status_code for _ in range(count)]


def test_latency_and_jitter_delay_each_request(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(latency_ms=120, latency_jitter_ms=60)
    for _ in range(3):
        began = time.perf_counter()
        assert client.get(f"{sandbox.url}/contact_interactions/totals", params=USA_1).status_code == 200
        assert 0.12 <= time.perf_counter() - began < 1.0
    began = time.perf_counter()
    requests.get(f"{sandbox.url}/_sandbox/requests", timeout=30)
    assert time.perf_counter() - began < 0.1  # control endpoints are never delayed


def test_rate_limit_answers_429_without_retry_after_by_default(serve: Serve, client: requests.Session) -> None:
    """The vendor documents the body and no header: clients must wait for the window to end on their own."""
    sandbox = serve(rate_limit_rps=3)
    responses = [client.get(f"{sandbox.url}/contact_interactions", params=USA_1) for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429, 429]
    assert responses[3].json() == {"message": "Too Many Requests"}
    assert "Retry-After" not in responses[3].headers
    time.sleep(1.05)
    assert client.get(f"{sandbox.url}/contact_interactions", params=USA_1).status_code == 200


def test_arrival_jitter_delays_the_moment_the_rate_limit_counts_a_request(serve: Serve, client: requests.Session) -> None:
    """Each counted request waits its seeded random delay first; the limit still holds once they are counted."""
    sandbox = serve(rate_limit_rps=3, arrival_jitter_ms=80, fault_seed=5)
    draws = random.Random(5)
    delays = [draws.random() * 0.08 for _ in range(6)]
    began = time.perf_counter()
    statuses = [client.get(f"{sandbox.url}/contact_interactions", params=USA_1).status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert time.perf_counter() - began >= sum(delays)


def test_rate_limit_answers_429_with_retry_after_seconds(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(rate_limit_rps=3, retry_after_format="seconds")
    responses = [client.get(f"{sandbox.url}/contact_interactions", params=USA_1) for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429, 429]
    assert responses[3].json() == {"message": "Too Many Requests"}
    assert responses[3].headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert client.get(f"{sandbox.url}/contact_interactions", params=USA_1).status_code == 200


def test_retry_after_as_http_date_or_absent(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(burst_429=[1], retry_after_format="http-date")
    response = client.get(f"{sandbox.url}/contact_interactions", params=USA_1)
    assert response.status_code == 429
    wait = parsedate_to_datetime(response.headers["Retry-After"]).timestamp() - time.time()
    assert -1 <= wait <= 2
    sandbox.configure(retry_after_format="none")
    sandbox.reset_log()
    again = client.get(f"{sandbox.url}/contact_interactions", params=USA_1)
    assert again.status_code == 429 and "Retry-After" not in again.headers


def test_burst_429_by_ordinal_and_by_rate(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(burst_429=[2, 3, 5])
    assert statuses(client, sandbox, 6, "/contact_interactions/totals") == [200, 429, 429, 200, 429, 200]
    sandbox.reset_log()  # restarts the ordinals
    assert statuses(client, sandbox, 2) == [200, 429]
    sandbox.configure(burst_429=0.5)
    limited = statuses(client, sandbox, 40).count(429)
    assert 10 <= limited <= 30


def test_error_rate_gives_5xx_deterministically(serve: Serve, client: requests.Session) -> None:
    first = statuses(client, serve(error_rate=0.4, fault_seed=5), 40)
    again = statuses(client, serve(error_rate=0.4, fault_seed=5), 40)
    other = statuses(client, serve(error_rate=0.4, fault_seed=6), 40)
    assert first == again != other
    errors = [status for status in first if status != 200]
    assert 8 <= len(errors) <= 26 and set(errors) <= {500, 502, 503, 504} and len(set(errors)) > 1
    assert set(statuses(client, serve(error_rate=1.0), 5, "/contact_interactions/totals")) <= {500, 502, 503, 504}


def test_dropped_connections_get_no_response(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(drop_rate=1.0, error_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        client.get(f"{sandbox.url}/contact_interactions", params=USA_1)
    assert [entry["status"] for entry in sandbox.requests] == [0]
    assert requests.get(f"{sandbox.url}/_sandbox/config", timeout=30).json()["drop_rate"] == 1.0  # control is never faulted
    sandbox.configure(drop_rate=0.5, error_rate=0.0)
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(client.get(f"{sandbox.url}/contact_interactions", params=USA_1).status_code)
        except requests.ConnectionError:
            outcomes.append(0)
    assert 4 <= outcomes.count(0) <= 16 and set(outcomes) == {0, 200}
    assert [entry["status"] for entry in sandbox.requests][1:] == outcomes


def test_malformed_missing_key_and_wrong_page(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(malformed_pages=[2], missing_key_pages={3}, wrong_page_pages="4")
    url = f"{sandbox.url}/contact_interactions"

    def page(number: int) -> requests.Response:
        return client.get(url, params={**USA_1, "page": str(number), "per_page": "10"})

    assert page(1).json()["page"] == 1
    malformed = page(2)
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.content)
    assert malformed.text.rstrip().endswith("}") and ",\n]" in malformed.text  # the seed's trailing comma
    missing = page(3).json()
    assert "contact_interactions" not in missing and missing["page"] == 3 and missing["total_pages"] > 4
    wrong = page(4).json()
    assert wrong["page"] == 5 and wrong["contact_interactions"] == page(5).json()["contact_interactions"]
    assert client.get(f"{sandbox.url}/contact_interactions/totals", params={**USA_1, "page": "2"}).json()["totals"]["events"] > 0


def test_mutation_during_a_walk_inserts_and_archives_once(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve(mutate_during_walk={"after_requests": 2, "insert": 4, "archive": 3}, fault_seed=3)
    window = {**USA_1, "start_date": "2026-10-03", "end_date": "2026-10-06", "per_page": "20"}
    before = sandbox.truth(**window)
    seen: list[int] = []
    page = 1
    while True:
        body = client.get(f"{sandbox.url}/contact_interactions", params={**window, "page": str(page)}).json()
        seen += [record["id"] for record in body["contact_interactions"]]
        if page == 1:
            assert sandbox.mutations == {"inserted": [], "archived": []}
        if page >= body["total_pages"]:
            break
        page += 1
    mutations = sandbox.mutations
    assert len(mutations["inserted"]) == 4 and len(mutations["archived"]) == 3
    assert set(mutations["archived"]) <= set(before) and not set(mutations["inserted"]) & {r["id"] for r in records}
    after = sandbox.truth(**window)
    assert set(after) == set(before) - set(mutations["archived"]) | set(mutations["inserted"])
    stored = {r["id"]: r for r in sandbox.interactions}
    for new_id in mutations["inserted"]:
        new = stored[new_id]
        assert "2026-10-03" <= new["occurred_at"][:10] <= "2026-10-06" and new["global_master_advertiser_id"] == "USA_1"
        assert parse_timestamp(new["created_at"]) >= parse_timestamp(new["occurred_at"])
    stable = set(before) - set(mutations["archived"])  # existed for the whole walk
    assert set(seen) <= set(before) | set(mutations["inserted"])
    missed, repeated = stable - set(seen), len(seen) - len(set(seen))
    assert missed or repeated  # records shifted across page boundaries under the walking client
    walk_again = [client.get(f"{sandbox.url}/contact_interactions", params={**window, "page": p}) for p in (1, 2, 3)]
    assert all(r.status_code == 200 for r in walk_again) and sandbox.mutations == mutations  # only once
    assert stable <= set(after)
    assert requests.get(f"{sandbox.url}/_sandbox/mutations", timeout=30).json() == mutations


def test_redirect_to_another_host_which_records_what_arrives(serve: Serve, client: requests.Session) -> None:
    target = serve()
    origin = serve(redirect_to=target.url + "/")
    response = client.get(
        f"{origin.url}/contact_interactions",
        params={**USA_1, "page": "2"},
        allow_redirects=False,
        headers={"x-api-key": "secret-key"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{target.url}/contact_interactions?global_master_advertiser_id=USA_1&page=2"
    naive = requests.get(
        response.headers["Location"], headers={"Authorization": f"token {SANDBOX_TOKEN}", "x-api-key": "leaked"}, timeout=30
    )
    assert naive.status_code == 200
    received = target.requests[-1]["headers"]
    assert received["Authorization"] == f"token {SANDBOX_TOKEN}" and received["x-api-key"] == "leaked"
    followed = client.get(f"{origin.url}/contact_interactions", params=USA_1, headers={"x-api-key": "secret-key"})
    assert [entry["status"] for entry in origin.requests] == [302, 302]
    arrived = target.requests[-1]["headers"]
    assert followed.url.startswith(target.url) and followed.status_code == (200 if "Authorization" in arrived else 401)


def test_mutations_are_identical_on_a_rerun(serve: Serve, client: requests.Session) -> None:
    def run() -> list[bytes]:
        sandbox = serve(mutate_during_walk={"after_requests": 1, "insert": 2, "archive": 2}, fault_seed=9)
        for page in ("1", "2"):
            client.get(f"{sandbox.url}/contact_interactions", params={**USA_1, "page": page, "per_page": "50"})
        inserted = set(sandbox.mutations["inserted"])
        assert len(inserted) == 2
        return [client.get(f"{sandbox.url}/contact_interactions", params={**USA_1, "per_page": "100"}).content] + [
            repr(r).encode() for r in sandbox.interactions if r["id"] in inserted
        ]

    assert run() == run()
