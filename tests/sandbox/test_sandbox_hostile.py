"""The hostile-server switches: each observable over real HTTP, as a client meets it.

A lying page count, a huge body streamed without being held, a trickle, absurd nesting and
timestamps that do not parse (docs/hostile-servers.md says what the provider does with each).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from lips_sandbox import LipsSandbox

Serve = Callable[..., LipsSandbox]
USA_1 = {"global_master_advertiser_id": "USA_1"}
MiB = 1 << 20


def page(client: requests.Session, sandbox: LipsSandbox, number: int, **params: Any) -> requests.Response:
    return client.get(f"{sandbox.url}/contact_interactions", params={**USA_1, "page": number, **params})


def test_a_lying_page_count_claims_pages_that_are_empty(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(lie_total_pages=1_000_000)
    first = page(client, sandbox, 1).json()
    assert first["total_pages"] == 1_000_000 and len(first["contact_interactions"]) == 25
    far = page(client, sandbox, 999_999).json()
    assert far["total_pages"] == 1_000_000 and far["contact_interactions"] == []
    # The totals tell the truth.
    totals = client.get(f"{sandbox.url}/contact_interactions/totals", params=USA_1).json()
    assert totals["totals"]["events"] == len(sandbox.truth(**USA_1))


def test_a_huge_page_is_exactly_its_size_of_valid_json(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(huge_pages="2", huge_body_bytes=3 * MiB + 5)
    response = page(client, sandbox, 2)
    assert response.headers["Content-Length"] == str(3 * MiB + 5) == str(len(response.content))
    body = response.json()
    assert (body["contact_interactions"], body["page"]) == ([], 2) and set(body["padding"]) == {"x"}
    assert page(client, sandbox, 1).json()["contact_interactions"], "other pages are untouched"


def test_a_chunked_huge_page_has_no_length_to_refuse_it_by(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(huge_pages=[1], huge_body_bytes=2 * MiB, huge_body_chunked=True)
    response = page(client, sandbox, 1)
    assert "Content-Length" not in response.headers and response.headers["Transfer-Encoding"] == "chunked"
    assert len(response.content) == 2 * MiB


def test_a_huge_page_is_streamed_not_built_first(serve: Serve, client: requests.Session) -> None:
    """1.5 GiB: the first megabyte arrives at once, which a body built in memory first could not do."""
    sandbox = serve(huge_pages=[1])
    began = time.monotonic()
    with client.get(f"{sandbox.url}/contact_interactions", params=USA_1, stream=True) as response:
        assert int(response.headers["Content-Length"]) == 1_610_612_736
        first = response.raw.read(MiB)
    assert len(first) == MiB and first.startswith(b'{"contact_interactions": [], "page": 1')
    assert time.monotonic() - began < 5


def test_a_trickled_page_sends_headers_at_once_then_a_byte_at_a_time(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(trickle_pages=[1], trickle_interval_ms=150)
    began = time.monotonic()
    with client.get(f"{sandbox.url}/contact_interactions", params=USA_1, stream=True) as response:
        headed = time.monotonic() - began
        assert response.status_code == 200 and int(response.headers["Content-Length"]) > 1000
        assert response.raw.read(1) == b"{"
        assert response.raw.read(3) == b'"co'
    assert headed < 1.0
    assert time.monotonic() - began >= 3 * 0.15


def test_deep_nesting_sits_in_the_first_record(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(deep_nesting_pages=[1], nesting_depth=5000)
    text = page(client, sandbox, 1).content
    assert text.startswith(b'{"contact_interactions": [{"nested": ' + b"[" * 5000 + b"]" * 5000 + b', "id": ')
    assert page(client, sandbox, 2).json()["contact_interactions"], "page 2 is plain"


def test_bad_timestamps_are_served_for_the_ids_named(serve: Serve, client: requests.Session) -> None:
    sandbox = serve()
    ids = [record["id"] for record in page(client, sandbox, 1).json()["contact_interactions"][:3]]
    sandbox.configure(bad_occurred_at_ids=[ids[0]], bad_created_at_ids=[ids[1]], numeric_created_at_ids=[ids[2]])
    served = {record["id"]: record for record in page(client, sandbox, 1).json()["contact_interactions"]}
    assert served[ids[0]]["occurred_at"] == "2026-13-45T25:61:00.000Z"
    assert served[ids[1]]["created_at"] == "not a timestamp"
    assert served[ids[2]]["created_at"] == 1764547200
    assert all(record["occurred_at"].endswith("Z") for key, record in served.items() if key not in ids)


def test_the_switches_round_trip_through_the_control_endpoint(serve: Serve) -> None:
    sandbox = serve()
    answer = requests.post(
        f"{sandbox.url}/_sandbox/config",
        data=json.dumps({"lie_total_pages": "1000000", "huge_pages": "1,3", "huge_body_chunked": "true", "nesting_depth": 7}),
        timeout=10,
    ).json()
    assert (answer["lie_total_pages"], answer["huge_pages"], answer["huge_body_chunked"], answer["nesting_depth"]) == (
        1_000_000, [1, 3], True, 7,
    )
    refused = requests.post(f"{sandbox.url}/_sandbox/config", data=json.dumps({"lie_total_pages": 0}), timeout=10)
    assert refused.status_code == 400 and "lie_total_pages" in refused.json()["message"]


def test_a_server_that_ignores_page_serves_page_one_under_every_label(serve: Serve, client: requests.Session) -> None:
    sandbox = serve(ignore_page=True)
    first, third = page(client, sandbox, 1).json(), page(client, sandbox, 3).json()
    assert third["page"] == 3 and third["contact_interactions"] == first["contact_interactions"]


def test_totals_can_contradict_the_listing(serve: Serve, client: requests.Session) -> None:
    for shape in ("nested", "flat"):
        sandbox = serve(totals_events=10, totals_shape=shape)
        body = client.get(f"{sandbox.url}/contact_interactions/totals", params=USA_1).json()
        assert (body["totals"] if shape == "nested" else body)["events"] == 10 < len(sandbox.truth(**USA_1))
