"""The emulated API over real HTTP: auth, validation, filters, paging, totals, visibility, control endpoints."""

from __future__ import annotations

import http.client
import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from lips_sandbox import LipsSandbox, ParamError, SandboxSettings
from lips_sandbox.data import format_timestamp, parse_timestamp, to_ms
from tests.sandbox.sandbox_support import END, SANDBOX_TOKEN

Serve = Callable[..., LipsSandbox]
ALL = {"global_master_advertiser_id": "USA_1,USA_2,USA_3"}


def lips_order(records: list[dict[str, Any]]) -> list[int]:
    """Ids as LIPS orders them: occurred_at DESC, then id DESC."""
    ordered = sorted(records, key=lambda r: (parse_timestamp(r["occurred_at"]), r["id"]), reverse=True)
    return [r["id"] for r in ordered]


def walk(client: requests.Session, url: str, **params: Any) -> list[int]:
    """All ids of a listing, page after page."""
    ids: list[int] = []
    page = 1
    while True:
        body = client.get(f"{url}/contact_interactions", params={**params, "page": str(page)}).json()
        ids += [record["id"] for record in body["contact_interactions"]]
        if page >= body["total_pages"]:
            return ids
        page += 1


def test_auth_requires_the_token(serve: Serve) -> None:
    sandbox = serve()
    url = f"{sandbox.url}/contact_interactions"
    missing = requests.get(url, params=ALL, timeout=30)
    wrong = requests.get(url, params=ALL, headers={"Authorization": "token nope"}, timeout=30)
    bearer = requests.get(url, params=ALL, headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}, timeout=30)
    assert [missing.status_code, wrong.status_code, bearer.status_code] == [401, 401, 401]
    assert "token" in missing.json()["message"]
    ok = requests.get(url, params=ALL, headers={"Authorization": f"token {SANDBOX_TOKEN}"}, timeout=30)
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("application/json")


def test_api_key_is_required_only_when_configured(serve: Serve, client: requests.Session) -> None:
    keyed = serve(api_key="k-123")
    url = f"{keyed.url}/contact_interactions/totals"
    assert client.get(url, params=ALL).status_code == 401
    assert "x-api-key" in client.get(url, params=ALL, headers={"x-api-key": "k-999"}).json()["message"]
    assert client.get(url, params=ALL, headers={"x-api-key": "k-123"}).status_code == 200
    assert client.get(f"{serve().url}/contact_interactions/totals", params=ALL).status_code == 200


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "global_master_advertiser_id or global_master_campaign_id is required"),
        ({"global_master_advertiser_id": "", "per_page": "10"}, "is required"),
        ({**ALL, "page": "0"}, "page"),
        ({**ALL, "per_page": "abc"}, "per_page"),
        ({**ALL, "start_date": "2026-13-01"}, "start_date"),
        ({**ALL, "end_date": "yesterday"}, "end_date"),
        ({**ALL, "archived": "maybe"}, "archived"),
    ],
)
def test_invalid_parameters_are_422_naming_them(
    serve: Serve, client: requests.Session, params: dict[str, str], named: str
) -> None:
    response = client.get(f"{serve().url}/contact_interactions", params=params)
    assert response.status_code == 422
    assert named in response.json()["message"]


def test_forbidden_advertiser_is_403_also_through_its_campaign(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve(forbidden_advertisers=["USA_3"])
    url = f"{sandbox.url}/contact_interactions"
    denied = client.get(url, params={"global_master_advertiser_id": ["USA_1", "USA_3"]})
    assert denied.status_code == 403 and denied.json()["name"] == "not_authorized"
    campaign = next(r["global_master_campaign_id"] for r in records if r["global_master_advertiser_id"] == "USA_3")
    assert client.get(url, params={"global_master_campaign_id": campaign}).status_code == 403
    assert client.get(url, params={"global_master_advertiser_id": "USA_1"}).status_code == 200


def test_pages_cover_every_id_once_in_lips_order(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve(max_per_page=40)
    usa1 = [r for r in records if r["global_master_advertiser_id"] == "USA_1"]
    first = client.get(
        f"{sandbox.url}/contact_interactions", params={"global_master_advertiser_id": "USA_1", "per_page": "500"}
    )
    body = first.json()
    assert list(body) == ["contact_interactions", "page", "total_pages", "per_page"]
    assert (body["page"], body["per_page"], body["total_pages"]) == (1, 40, math.ceil(len(usa1) / 40))
    ids = walk(client, sandbox.url, global_master_advertiser_id="USA_1", per_page=500)
    assert ids == lips_order(usa1)
    assert ids == sandbox.truth(global_master_advertiser_id="USA_1")
    beyond = client.get(
        f"{sandbox.url}/contact_interactions", params={"global_master_advertiser_id": "USA_1", "page": "999"}
    ).json()
    assert beyond["contact_interactions"] == [] and beyond["page"] == 999


def test_default_page_size_is_25(serve: Serve, client: requests.Session, records: list[dict[str, Any]]) -> None:
    body = client.get(f"{serve().url}/contact_interactions", params=ALL).json()
    assert body["per_page"] == 25 and len(body["contact_interactions"]) == 25
    assert body["total_pages"] == math.ceil(len(records) / 25)


def test_records_are_served_exactly_as_stored(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    lazy, eager = serve(), serve()
    eager.warm_up()
    stored = {r["id"]: r for r in records}
    for sandbox in (lazy, eager):
        body = client.get(f"{sandbox.url}/contact_interactions", params={**ALL, "per_page": "100"}).json()
        assert len(body["contact_interactions"]) == 100
        assert all(served == stored[served["id"]] for served in body["contact_interactions"])
    assert all("lead_score" in served for served in body["contact_interactions"])


def test_equal_occurred_at_ties_break_by_id_desc(serve: Serve, client: requests.Session) -> None:
    base = {
        "global_master_advertiser_id": "USA_9",
        "occurred_at": "2026-10-02T10:00:00.000Z",
        "created_at": "2026-10-02T10:05:00.000Z",
        "archived_at": None,
    }
    sandbox = serve(
        [{**base, "id": 5}, {**base, "id": 9}, {**base, "id": 7, "occurred_at": "2026-10-02T10:00:00.001Z"}]
    )
    assert walk(client, sandbox.url, global_master_advertiser_id="USA_9") == [7, 9, 5]


def test_ids_accept_repeated_comma_and_bracket_forms(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    expected = lips_order([r for r in records if r["global_master_advertiser_id"] in ("USA_1", "USA_3")])
    url = f"{sandbox.url}/contact_interactions/totals"
    for query in (
        "global_master_advertiser_id=USA_1&global_master_advertiser_id=USA_3",
        "global_master_advertiser_id=USA_1,USA_3",
        "global_master_advertiser_id%5B%5D=USA_1&global_master_advertiser_id%5B%5D=USA_3",
        "global_master_advertiser_id[]=USA_3&global_master_advertiser_id=USA_1",
    ):
        assert client.get(f"{url}?{query}").json()["totals"]["events"] == len(expected), query
    campaigns = sorted({r["global_master_campaign_id"] for r in records if r["global_master_advertiser_id"] == "USA_2"})
    by_campaign = walk(client, sandbox.url, global_master_campaign_id=campaigns[:2], per_page=100)
    assert by_campaign == lips_order([r for r in records if r["global_master_campaign_id"] in campaigns[:2]])
    both = walk(client, sandbox.url, global_master_advertiser_id="USA_1", global_master_campaign_id=campaigns[0])
    assert both == []  # the two filters combine with AND


def test_date_bounds_are_inclusive_on_occurred_at(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    template = records[0]
    edges = [
        {**template, "id": 1, "occurred_at": "2026-10-05T00:00:00.000Z"},
        {**template, "id": 2, "occurred_at": "2026-10-05T23:59:59.999Z"},
        {**template, "id": 3, "occurred_at": "2026-10-04T23:59:59.999Z"},
        {**template, "id": 4, "occurred_at": "2026-10-06T00:00:00.000Z"},
    ]
    sandbox = serve(records + edges)
    gmaid = {"global_master_advertiser_id": template["global_master_advertiser_id"]}
    day = walk(client, sandbox.url, **gmaid, start_date="2026-10-05", end_date="2026-10-05", per_page=100)
    assert 1 in day and 2 in day and 3 not in day and 4 not in day
    low, high = to_ms(datetime(2026, 10, 5, tzinfo=timezone.utc)), to_ms(datetime(2026, 10, 6, tzinfo=timezone.utc))
    same_gmaid = [
        r for r in records + edges if r["global_master_advertiser_id"] == gmaid["global_master_advertiser_id"]
    ]
    assert day == lips_order([r for r in same_gmaid if low <= parse_timestamp(r["occurred_at"]) < high])
    exact = walk(client, sandbox.url, **gmaid, start_date="2026-10-05T00:00:00Z", end_date="2026-10-05T00:00:00.000Z")
    assert exact == [1]
    assert sandbox.truth(**gmaid, start_date="2026-10-05T23:59:59.999Z", end_date="2026-10-06") == lips_order(
        [
            r
            for r in same_gmaid
            if parse_timestamp("2026-10-05T23:59:59.999Z") <= parse_timestamp(r["occurred_at"]) < high + 86_400_000
        ]
    )


@pytest.mark.parametrize("offset", [14, -12, 5.5])
def test_bare_dates_are_days_of_the_server_time_zone(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]], offset: float
) -> None:
    sandbox = serve(filter_utc_offset_hours=offset)
    local_midnight = datetime(2026, 10, 5, tzinfo=timezone(timedelta(hours=offset)))
    low, high = to_ms(local_midnight), to_ms(local_midnight + timedelta(days=1))
    ids = walk(client, sandbox.url, **ALL, start_date="2026-10-05", end_date="2026-10-05", per_page=100)
    assert ids == lips_order([r for r in records if low <= parse_timestamp(r["occurred_at"]) < high])
    naive = walk(client, sandbox.url, **ALL, start_date="2026-10-05T00:00:00", end_date="2026-10-05T23:59:59.999")
    assert naive == ids  # naive datetimes are server-local too


def test_phone_filter_needs_a_percent_encoded_plus(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    phone = records[0]["contact"]["phone_numbers"][0]["phone_number"]
    expected = lips_order([r for r in records if phone in {p["phone_number"] for p in r["contact"]["phone_numbers"]}])
    assert len(expected) >= 2
    encoded = walk(client, sandbox.url, **ALL, **{"event_params[phone_numbers]": phone})  # requests sends %2B
    assert encoded == expected
    raw = client.get(
        f"{sandbox.url}/contact_interactions?{'global_master_advertiser_id=USA_1,USA_2,USA_3'}"
        f"&event_params[phone_numbers]={phone}"
    )
    assert raw.status_code == 200 and raw.json()["contact_interactions"] == []
    assert sandbox.requests[-1]["params"]["event_params[phone_numbers]"] == [" " + phone[1:]]
    assert sandbox.truth(**ALL, phone_numbers=phone) == expected


def test_event_type_and_channel_array_filters(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    query = "&".join(
        [
            "global_master_advertiser_id=USA_1",
            "event_type[]=call",
            "event_type[]=booking",
            "channel[]=search",
            "channel[]=social",
        ]
    )
    body = client.get(f"{sandbox.url}/contact_interactions?{query}&per_page=100").json()
    expected = lips_order(
        [
            r
            for r in records
            if r["global_master_advertiser_id"] == "USA_1"
            and r["event_type"] in ("call", "booking")
            and r["channel"] in ("search", "social")
        ]
    )
    assert [r["id"] for r in body["contact_interactions"]] == expected[:100] and expected


def test_totals_match_the_listing_in_the_documented_nested_shape(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    params = {"global_master_advertiser_id": "USA_2", "start_date": "2026-10-03", "end_date": "2026-10-09"}
    body = client.get(f"{sandbox.url}/contact_interactions/totals", params=params).json()
    listed = walk(client, sandbox.url, **params, per_page=100)
    by_id = {r["id"]: r for r in records}
    assert set(body) == {"totals", "unread", "channel"}
    totals = body["totals"]
    assert set(totals) == {"events", "call_events", "form_events", "chat_events", "booking_events", "lsa_events"}
    assert totals["events"] == len(listed) > 0 and totals["lsa_events"] == 0
    for event_type in ("call", "form", "chat", "booking"):
        assert totals[f"{event_type}_events"] == sum(by_id[i]["event_type"] == event_type for i in listed)
    assert body["unread"] == totals  # the generated records carry no "read" flag
    assert set(body["channel"]) == {"display", "search", "social", "chat", "other", "none"}
    for channel, count in body["channel"].items():
        assert count == sum(by_id[i]["channel"] == channel for i in listed)
    assert sum(body["channel"].values()) == totals["events"]


def test_totals_in_the_older_flat_shape(serve: Serve, client: requests.Session, records: list[dict[str, Any]]) -> None:
    sandbox = serve(totals_shape="flat")
    params = {"global_master_advertiser_id": "USA_2", "start_date": "2026-10-03", "end_date": "2026-10-09"}
    flat = client.get(f"{sandbox.url}/contact_interactions/totals", params=params).json()
    listed = walk(client, sandbox.url, **params, per_page=100)
    by_id = {r["id"]: r for r in records}
    assert set(flat) == {"events", "call_events", "form_events", "chat_events", "booking_events"}
    assert flat["events"] == len(listed) > 0
    for event_type in ("call", "form", "chat", "booking"):
        assert flat[f"{event_type}_events"] == sum(by_id[i]["event_type"] == event_type for i in listed)
    sandbox.configure(totals_shape="nested")
    nested = client.get(f"{sandbox.url}/contact_interactions/totals", params=params).json()
    assert nested["totals"] == {**flat, "lsa_events": 0}


def test_archived_records_leave_listings_and_show_with_archived_true(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    victim = sandbox.truth(global_master_advertiser_id="USA_1")[3]
    sandbox.archive(victim)
    assert victim not in walk(client, sandbox.url, global_master_advertiser_id="USA_1", per_page=100)
    archived = client.get(
        f"{sandbox.url}/contact_interactions", params={"global_master_advertiser_id": "USA_1", "archived": "true"}
    ).json()["contact_interactions"]
    assert [r["id"] for r in archived] == [victim] and archived[0]["archived_at"]
    assert next(r for r in records if r["id"] == victim)["archived_at"] is None  # the caller's data is untouched


def test_as_of_hides_records_not_yet_ingested(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    clock = datetime(2026, 10, 8, tzinfo=timezone.utc)
    sandbox = serve(as_of=clock)
    window = {**ALL, "start_date": "2026-10-07", "end_date": "2026-10-07"}
    seen = set(walk(client, sandbox.url, **window, per_page=100))
    day = [r for r in records if r["occurred_at"].startswith("2026-10-07")]
    late = {r["id"] for r in day if parse_timestamp(r["created_at"]) > to_ms(clock)}
    assert late and seen == {r["id"] for r in day} - late
    sandbox.configure(as_of=clock + timedelta(days=11))
    assert set(walk(client, sandbox.url, **window, per_page=100)) == {r["id"] for r in day}


def test_insert_makes_a_record_visible(serve: Serve, client: requests.Session, records: list[dict[str, Any]]) -> None:
    sandbox = serve()
    new = {
        **records[0],
        "id": 99,
        "occurred_at": format_timestamp(to_ms(END) + 1000),
        "created_at": format_timestamp(to_ms(END) + 2000),
    }
    sandbox.insert(new)
    first = client.get(f"{sandbox.url}/contact_interactions", params=ALL).json()["contact_interactions"][0]
    assert first == new
    with pytest.raises(ValueError, match="already exists"):
        sandbox.insert(new)


def test_keep_alive_serves_many_requests_on_one_connection(serve: Serve) -> None:
    sandbox = serve()
    connection = http.client.HTTPConnection(urlsplit(sandbox.url).netloc, timeout=5)
    sockets = []
    for page in (1, 2, 3):
        connection.request(
            "GET",
            f"/contact_interactions?global_master_advertiser_id=USA_1&page={page}",
            headers={"Authorization": f"token {SANDBOX_TOKEN}"},
        )
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Length")
        assert json.loads(response.read())["page"] == page
        sockets.append(connection.sock)
    assert sockets[0] is not None and sockets[0] is sockets[1] is sockets[2]  # http.client reconnects with a new socket
    connection.close()


def test_unknown_paths_and_methods(serve: Serve, client: requests.Session) -> None:
    sandbox = serve()
    assert client.get(f"{sandbox.url}/fpd_events").status_code == 404
    assert client.post(f"{sandbox.url}/contact_interactions", params=ALL).status_code == 405
    assert [entry["status"] for entry in sandbox.requests] == [404, 405]


def test_request_log_records_everything_received(serve: Serve, client: requests.Session) -> None:
    sandbox = serve()
    client.get(f"{sandbox.url}/contact_interactions", params={**ALL, "page": "2"}, headers={"x-api-key": "abc"})
    (entry,) = sandbox.requests
    assert entry["method"] == "GET" and entry["path"] == "/contact_interactions" and entry["status"] == 200
    assert entry["query"] == "global_master_advertiser_id=USA_1%2CUSA_2%2CUSA_3&page=2"
    assert entry["params"] == {"global_master_advertiser_id": ["USA_1,USA_2,USA_3"], "page": ["2"]}
    assert entry["headers"]["Authorization"] == f"token {SANDBOX_TOKEN}" and entry["headers"]["x-api-key"] == "abc"
    assert abs(entry["time"] - datetime.now(timezone.utc).timestamp()) < 5
    sandbox.reset_log()
    assert sandbox.requests == []


def test_control_endpoints(serve: Serve, client: requests.Session) -> None:
    sandbox = serve()
    client.get(f"{sandbox.url}/contact_interactions", params=ALL)
    control = f"{sandbox.url}/_sandbox"
    logged = requests.get(f"{control}/requests", timeout=30).json()
    assert [entry["path"] for entry in logged] == ["/contact_interactions"]
    truth = requests.get(
        f"{control}/truth", params={"global_master_advertiser_id": "USA_2", "start_date": "2026-10-02"}, timeout=30
    ).json()
    assert truth["ids"] == sandbox.truth(global_master_advertiser_id="USA_2", start_date="2026-10-02")
    assert truth["count"] == len(truth["ids"]) > 0
    assert requests.get(f"{control}/truth", timeout=30).status_code == 422
    config = requests.post(f"{control}/config", json={"malformed_pages": [2], "as_of": "2026-10-10T00:00:00Z"}, timeout=30).json()
    assert config["malformed_pages"] == [2] and sandbox.settings.as_of == datetime(2026, 10, 10, tzinfo=timezone.utc)
    assert requests.post(f"{control}/config", json={"error_rate": 7}, timeout=30).status_code == 400
    assert requests.post(f"{control}/config", json={"no_such": 1}, timeout=30).status_code == 400
    assert requests.post(f"{control}/config", data="not json", timeout=30).status_code == 400
    assert requests.get(f"{control}/config", timeout=30).json()["token"] == SANDBOX_TOKEN
    assert requests.get(f"{control}/mutations", timeout=30).json() == {"inserted": [], "archived": []}
    assert requests.post(f"{control}/reset-log", timeout=30).json() == {"ok": True}
    assert sandbox.requests == [] and requests.get(f"{control}/requests", timeout=30).json() == []
    assert requests.get(f"{control}/nothing", timeout=30).status_code == 404


def test_truth_validates_like_the_server(serve: Serve) -> None:
    sandbox = serve()
    with pytest.raises(ParamError, match="is required"):
        sandbox.truth(event_type=["call"])
    assert sandbox.truth(global_master_advertiser_id=["USA_1"], archived=True) == []


def test_settings_validate_and_round_trip() -> None:
    settings = SandboxSettings().updated(
        malformed_pages="3,7",
        burst_429="0.25",
        as_of="2026-10-01T00:00:00Z",
        mutate_during_walk='{"after_requests": 2}',
        redirect_to="http://h:1/",
    )
    assert settings.malformed_pages == frozenset({3, 7}) and settings.burst_429 == 0.25
    assert settings.mutate_during_walk == {"after_requests": 2, "insert": 0, "archive": 0}
    assert settings.redirect_to == "http://h:1"
    assert SandboxSettings().updated(**settings.to_json()) == settings
    for bad, message in (
        ({"drop_rate": 2}, "invalid value for drop_rate: expected a number in"),
        ({"retry_after_format": "minutes"}, "invalid value for retry_after_format: expected one of"),
        ({"max_per_page": 0}, "invalid value for max_per_page: expected a positive integer"),
        ({"redirect_to": "ftp://x"}, "invalid value for redirect_to: expected an http"),
        ({"mutate_during_walk": {"later": 1}}, "invalid value for mutate_during_walk: expected an object"),
        ({"latency": 5}, "unknown sandbox setting 'latency'"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            SandboxSettings().updated(**bad)


@pytest.mark.integration  # a sandbox of its own
def test_stop_is_idempotent_and_url_needs_a_running_sandbox(records: list[dict[str, Any]]) -> None:
    sandbox = LipsSandbox(records)
    with pytest.raises(RuntimeError):
        _ = sandbox.url
    with sandbox:
        assert requests.get(f"{sandbox.url}/_sandbox/config", timeout=5).status_code == 200
        with pytest.raises(RuntimeError):
            sandbox.start()
    sandbox.stop()
    with pytest.raises(RuntimeError):
        _ = sandbox.url
