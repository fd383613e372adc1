"""The documented shape variants over HTTP, and archive / unarchive / delete between runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from lips_sandbox import LipsSandbox
from lips_sandbox.data import parse_timestamp
from lips_sandbox.shapes import class_style

Serve = Callable[..., LipsSandbox]
USA_1 = {"global_master_advertiser_id": "USA_1", "per_page": "100"}


def served(client: requests.Session, sandbox: LipsSandbox, **params: str) -> list[dict[str, Any]]:
    body = client.get(f"{sandbox.url}/contact_interactions", params={**USA_1, **params}).json()
    return body["contact_interactions"]


def test_default_spelling_is_the_canonical_record(serve: Serve, client: requests.Session, records: list[dict]) -> None:
    by_id = {r["id"]: r for r in records}
    page = served(client, serve())
    assert page and all(record == by_id[record["id"]] for record in page)


def test_class_style_event_types_filter_on_the_plain_type(serve: Serve, client: requests.Session, records: list[dict]) -> None:
    sandbox = serve(event_type_style="class")
    by_id = {r["id"]: r for r in records}
    page = served(client, sandbox)
    assert {r["event_type"] for r in page} == {"CallEvent", "FormEvent", "ChatEvent", "BookingEvent"}
    assert all(r["event_type"] == class_style(by_id[r["id"]]["event_type"]) for r in page)
    calls = served(client, sandbox, **{"event_type[]": "call"})
    assert calls and {r["event_type"] for r in calls} == {"CallEvent"}
    assert [class_style(t) for t in ("lsa", "fpd", "chat_sales")] == ["LsaEvent", "FpdEvent", "ChatSalesEvent"]


def test_occured_at_spelling_and_offset_timestamps_keep_the_instant(
    serve: Serve, client: requests.Session, records: list[dict]
) -> None:
    sandbox = serve(occurred_field="occured_at", timestamp_offset_hours=-8)
    by_id = {r["id"]: r for r in records}
    page = served(client, sandbox)
    for record in page:
        original = by_id[record["id"]]
        assert "occurred_at" not in record and list(record).index("occured_at") == list(original).index("occurred_at")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-08:00", record["occured_at"])
        assert parse_timestamp(record["occured_at"]) == parse_timestamp(original["occurred_at"])
        assert parse_timestamp(record["created_at"]) == parse_timestamp(original["created_at"])
        assert parse_timestamp(record["contact"]["created_at"]) == parse_timestamp(original["contact"]["created_at"])
    sandbox.configure(occurred_field="occurred_at", timestamp_offset_hours=5.5)
    assert all(r["occurred_at"].endswith("+05:30") for r in served(client, sandbox))


def test_contacts_without_id_and_phone_extensions_by_fraction(
    serve: Serve, client: requests.Session, records: list[dict]
) -> None:
    sandbox = serve(contacts_without_id=0.5, phone_extensions=1.0)
    page = served(client, sandbox)
    anonymous = [r for r in page if "id" not in r["contact"]]
    assert 20 <= len(anonymous) <= 80  # about half of 100, deterministic per id
    assert all("contact_id" not in r for r in anonymous)
    assert all(r["contact_id"] == r["contact"]["id"] for r in page if r not in anonymous)
    numbers = [n["phone_number"] for r in page for n in r["contact"]["phone_numbers"]]
    assert numbers and all(re.fullmatch(r"\+1\d{10} x\d{3}", n) for n in numbers)
    assert served(client, sandbox) == page  # the same records get the same treatment every time
    # The server still matches the number without its extension.
    number = numbers[0].split(" x")[0]
    matched = served(client, sandbox, **{"event_params[phone_numbers]": number})
    assert matched and all(any(n["phone_number"].startswith(number) for n in r["contact"]["phone_numbers"]) for r in matched)


def test_archive_unarchive_and_delete_between_runs(serve: Serve, client: requests.Session) -> None:
    sandbox = serve()
    live = sandbox.truth(global_master_advertiser_id="USA_1")
    archived_one, archived_two, deleted = live[1], live[2], live[3]
    control = f"{sandbox.url}/_sandbox"
    moment = datetime(2026, 10, 20, 12, tzinfo=timezone.utc)
    answer = requests.post(f"{control}/archive", json={"ids": [archived_one, archived_two], "at": moment.isoformat()}, timeout=30)
    assert answer.json() == {"archive": [archived_one, archived_two]}
    sandbox.delete(deleted)
    assert sandbox.truth(global_master_advertiser_id="USA_1") == [i for i in live if i not in (archived_one, archived_two, deleted)]
    assert sandbox.truth(global_master_advertiser_id="USA_1", archived=True) == [archived_one, archived_two]
    shown = served(client, sandbox, archived="true")
    assert [r["id"] for r in shown] == [archived_one, archived_two]
    assert {r["archived_at"] for r in shown} == {"2026-10-20T12:00:00.000Z"}
    assert requests.post(f"{control}/unarchive", json={"ids": [archived_two]}, timeout=30).status_code == 200
    assert sandbox.truth(global_master_advertiser_id="USA_1", archived=True) == [archived_one]
    restored = next(r for r in served(client, sandbox) if r["id"] == archived_two)
    assert restored["archived_at"] is None
    assert requests.post(f"{control}/delete", json={"ids": [archived_one]}, timeout=30).status_code == 200
    assert sandbox.truth(global_master_advertiser_id="USA_1", archived=True) == []
    assert requests.get(f"{control}/deleted", timeout=30).json() == {"ids": [deleted, archived_one]}
    assert sandbox.deleted == [deleted, archived_one]
    totals = client.get(f"{sandbox.url}/contact_interactions/totals", params=USA_1).json()
    assert totals["totals"]["events"] == len(live) - 2
    # Unknown ids change nothing and say so; a malformed body is a 400.
    unknown = requests.post(f"{control}/archive", json={"ids": [live[5], 1]}, timeout=30)
    assert unknown.status_code == 404 and "1" in unknown.json()["message"]
    assert live[5] in sandbox.truth(global_master_advertiser_id="USA_1")
    assert requests.post(f"{control}/delete", json={"ids": "all"}, timeout=30).status_code == 400
    with pytest.raises(KeyError):
        sandbox.unarchive(deleted)
