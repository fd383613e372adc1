"""LipsContactsOperator against the sandbox: an advertiser's contacts created in a window, exactly, once each."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.operators.contacts import LipsContactsOperator
from lips_sandbox import LipsSandbox
from tests.support import run

# The generator creates contacts in the 90 days before the interactions' first day (2026-11-01).
WINDOW = (datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc))
MS = timedelta(milliseconds=1)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def truth(sandbox: LipsSandbox, start: datetime, end: datetime, gmaid: str = "USA_1") -> list[dict[str, Any]]:
    """The sandbox's contacts with start <= created_at < end (its bounds are inclusive: end less 1 ms)."""
    return sandbox.contacts_truth(global_master_advertiser_id=gmaid, start_date=stamp(start), end_date=stamp(end - MS))


def contacts_pull(**kwargs: Any) -> LipsContactsOperator:
    kwargs.setdefault("global_master_advertiser_id", "USA_1")
    return LipsContactsOperator(task_id="contacts", **kwargs)


def test_xcom_holds_each_contact_of_the_window_once_and_exactly_the_window(lips_conn: LipsSandbox) -> None:
    start, end = WINDOW
    template = next(r for r in lips_conn.interactions if r["global_master_advertiser_id"] == "USA_1")
    edges = {9_100_001: start - MS, 9_100_002: start, 9_100_003: end - MS, 9_100_004: end}
    for offset, (contact_id, created) in enumerate(edges.items()):
        contact = {**template["contact"], "id": contact_id, "created_at": stamp(created), "updated_at": stamp(created)}
        lips_conn.insert({**template, "id": 99_100_000 + offset, "contact_id": contact_id, "contact": contact})
    lips_conn.configure(max_per_page=4)

    records = run(contacts_pull(concurrency=4), *WINDOW)

    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) > 20
    assert ids == [contact["id"] for contact in truth(lips_conn, start, end)]  # the server's order, every field
    assert records == truth(lips_conn, start, end)
    assert {9_100_002, 9_100_003} <= set(ids) and not {9_100_001, 9_100_004} & set(ids)
    listing = [e for e in lips_conn.requests if e["path"] == "/contacts"]
    assert len(listing) > 5 and not [e for e in lips_conn.requests if e["path"].startswith("/contact_interactions")]


def test_json_lines_and_manifest_like_the_interactions(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    target = tmp_path / "gmaid=USA_2" / "contacts.jsonl"
    manifest = run(contacts_pull(global_master_advertiser_id="USA_2", destination=f"file://{target}"), *WINDOW)
    expected = truth(lips_conn, *WINDOW, gmaid="USA_2")
    assert [json.loads(line) for line in target.read_text().splitlines()] == expected
    assert manifest["uri"] == f"file://{target}" and manifest["records"] == len(expected) > 10
    assert (manifest["window_start"], manifest["window_end"]) == ("2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z")
    assert manifest["source"] == f"{lips_conn.url}/contacts"
    assert manifest["completeness"] == [] and manifest["lateness_seconds"] is None  # /contacts has no totals
    assert not list(target.parent.glob("*.partial*"))


def test_consecutive_windows_neither_overlap_nor_gap(lips_conn: LipsSandbox) -> None:
    middle = datetime(2026, 9, 15, 12, 0, 0, 500_000, tzinfo=timezone.utc)
    first, second = run(contacts_pull(), WINDOW[0], middle), run(contacts_pull(), middle, WINDOW[1])
    ids = [record["id"] for record in first + second]
    assert len(ids) == len(set(ids))
    assert set(ids) == {contact["id"] for contact in truth(lips_conn, *WINDOW)}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"global_master_advertiser_id": None, "global_master_campaign_id": "USA_3115232"}, "global_master_campaign_id"),
        ({"global_master_advertiser_id": None}, "global_master_advertiser_id"),
        ({"destination": "file:///tmp/contacts.jsonl", "window_start": "2026-10-01", "window_end": "2026-09-01"}, "window_end"),
    ],
)
def test_bad_arguments_fail_before_any_request(lips_conn: LipsSandbox, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(LipsValidationError, match=message):
        run(contacts_pull(**arguments), *WINDOW)
    assert lips_conn.requests == []
