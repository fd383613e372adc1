"""``GET /contacts`` over real HTTP: an advertiser's contacts, newest snapshot, created_at window, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from lips_sandbox import LipsSandbox
from lips_sandbox.data import format_timestamp, parse_timestamp, to_ms
from tests.sandbox.sandbox_support import START

Serve = Callable[..., LipsSandbox]


def walk_contacts(client: requests.Session, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every contact of a /contacts listing, page after page."""
    contacts: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = client.get(f"{url}/contacts", params={**params, "page": str(page)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        contacts += body["contacts"]
        if page >= body["total_pages"]:
            return contacts
        page += 1


def newest_snapshots(records: list[dict[str, Any]], gmaid: str) -> dict[int, dict[str, Any]]:
    """Computed from the data itself: each contact's embedded snapshot with the latest updated_at."""
    newest: dict[int, tuple[tuple[str, str, int], dict[str, Any]]] = {}
    for record in records:
        if record["global_master_advertiser_id"] != gmaid or record.get("archived_at"):
            continue
        contact = record["contact"]
        version = (contact["updated_at"], record["created_at"], record["id"])
        if contact["id"] not in newest or version > newest[contact["id"]][0]:
            newest[contact["id"]] = (version, contact)
    return {contact_id: contact for contact_id, (_, contact) in newest.items()}


def test_contacts_are_each_advertisers_contacts_once_newest_snapshot_in_created_order(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    served = walk_contacts(client, sandbox.url, global_master_advertiser_id="USA_2", per_page="7")
    expected = newest_snapshots(records, "USA_2")
    ids = [contact["id"] for contact in served]
    assert len(ids) == len(set(ids)) == len(expected) > 20
    assert set(ids) == set(expected)
    order = [(parse_timestamp(c["created_at"]), c["id"]) for c in served]
    assert order == sorted(order, reverse=True)
    for contact in served:
        snapshot = expected[contact["id"]]
        assert {k: contact[k] for k in snapshot if k not in ("interaction_external_source", "contact_external_source")} == {
            k: v for k, v in snapshot.items() if k not in ("interaction_external_source", "contact_external_source")
        }
        assert "interaction_external_source" not in contact and "contact_external_source" not in contact
        assert contact["global_master_advertiser_id"] == "USA_2"
    events = [r for r in records if r["global_master_advertiser_id"] == "USA_2" and r["contact"]["id"] == ids[0]]
    assert served[0]["total_events"] == len(events)
    assert served[0]["last_event"] == max(r["occurred_at"] for r in events)
    assert [c["id"] for c in sandbox.contacts_truth(global_master_advertiser_id="USA_2")] == ids


def test_dates_bound_created_at_inclusively_like_the_interactions_dates(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    everyone = sandbox.contacts_truth(global_master_advertiser_id="USA_1")
    created = sorted(parse_timestamp(c["created_at"]) for c in everyone)
    low, high = created[len(created) // 4], created[3 * len(created) // 4]
    params = {
        "global_master_advertiser_id": "USA_1",
        "start_date": format_timestamp(low),
        "end_date": format_timestamp(high),
    }
    served = {c["id"] for c in walk_contacts(client, sandbox.url, **params)}
    assert served == {c["id"] for c in everyone if low <= parse_timestamp(c["created_at"]) <= high}
    # A millisecond less on each side drops exactly the contacts created on the bounds.
    narrower = {**params, "start_date": format_timestamp(low + 1), "end_date": format_timestamp(high - 1)}
    on_bounds = {c["id"] for c in everyone if parse_timestamp(c["created_at"]) in (low, high)}
    assert {c["id"] for c in walk_contacts(client, sandbox.url, **narrower)} == served - on_bounds
    # Bare dates mean whole UTC days, as for interactions.
    day = datetime.fromtimestamp(low / 1000, timezone.utc).date()
    whole_day = {
        c["id"]
        for c in walk_contacts(
            client, sandbox.url, global_master_advertiser_id="USA_1", start_date=day.isoformat(), end_date=day.isoformat()
        )
    }
    start_ms = to_ms(datetime.combine(day, datetime.min.time(), timezone.utc))
    assert whole_day == {c["id"] for c in everyone if start_ms <= parse_timestamp(c["created_at"]) < start_ms + 86_400_000}
    assert whole_day


def test_contacts_need_an_advertiser_and_respect_access_and_visibility(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve(forbidden_advertisers="USA_3")
    missing = client.get(f"{sandbox.url}/contacts", params={"global_master_campaign_id": records[0]["global_master_campaign_id"]})
    assert missing.status_code == 422 and "global_master_advertiser_id" in missing.json()["message"]
    assert client.get(f"{sandbox.url}/contacts", params={"global_master_advertiser_id": "USA_3"}).status_code == 403
    assert requests.get(f"{sandbox.url}/contacts", params={"global_master_advertiser_id": "USA_1"}, timeout=30).status_code == 401
    assert walk_contacts(client, sandbox.url, global_master_advertiser_id="USA_1", archived="true") == []
    # Before any interaction was ingested, nobody is a contact yet.
    sandbox.configure(as_of=START - timedelta(days=1))
    assert walk_contacts(client, sandbox.url, global_master_advertiser_id="USA_1") == []


def test_a_new_interaction_with_a_new_contact_shows_the_contact(
    serve: Serve, client: requests.Session, records: list[dict[str, Any]]
) -> None:
    sandbox = serve()
    before = {c["id"] for c in walk_contacts(client, sandbox.url, global_master_advertiser_id="USA_1")}
    template = next(r for r in records if r["global_master_advertiser_id"] == "USA_1")
    newcomer = {**template["contact"], "id": 9_999_001, "created_at": "2026-10-14T10:00:00.123Z"}
    sandbox.insert({**template, "id": 99_000_001, "contact_id": 9_999_001, "contact": newcomer})
    after = walk_contacts(client, sandbox.url, global_master_advertiser_id="USA_1")
    assert {c["id"] for c in after} == before | {9_999_001}
    assert after[0]["id"] == 9_999_001  # the newest created_at comes first
    truth = requests.get(f"{sandbox.url}/_sandbox/contacts-truth", params={"global_master_advertiser_id": "USA_1"}, timeout=30).json()
    assert truth["ids"] == [c["id"] for c in after] and truth["count"] == len(after)
