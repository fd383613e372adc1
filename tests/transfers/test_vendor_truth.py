"""The vendor's documented shapes through the pull and the load, and a warehouse kept equal to the vendor's truth.

Real HTTP (the sandbox), real files, real SQLite and PostgreSQL (a schema per test).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.pull.engine import SINGLE_PAGE
from airflow_provider_lips.transfers.contact_interactions_to_sql import LipsContactInteractionsToSqlOperator
from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import API_KEY, TOKEN, Warehouse, lips_connection, pull, run, utc

pytestmark = pytest.mark.integration  # a sandbox of its own (fixture vendor)

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = START + timedelta(days=5)
PLAIN_TYPES = {"call", "form", "chat", "booking"}
# Each documented spelling (LIPS_API.md), and all of them at once.
VARIANTS: dict[str, dict[str, Any]] = {
    "documented": {"burst_429": [3]},  # nested totals, 429 without Retry-After
    "flat-totals": {"totals_shape": "flat"},
    "class-event-types": {"event_type_style": "class"},
    "occured_at": {"occurred_field": "occured_at"},
    "offset-timestamps": {"timestamp_offset_hours": -8},
    "contacts-without-id": {"contacts_without_id": 0.3},
    "phone-extensions": {"phone_extensions": 1.0},
    "all-at-once": {
        "totals_shape": "flat",
        "event_type_style": "class",
        "occurred_field": "occured_at",
        "timestamp_offset_hours": 5.5,
        "contacts_without_id": 0.5,
        "phone_extensions": 0.5,
        "burst_429": [9],
    },
}


@pytest.fixture(scope="module")
def data() -> list[dict[str, Any]]:
    """300 interactions of two advertisers over five days of October 2026 (shared: never modify)."""
    return generate_interactions(seed=21, count=300, start=START, end=END, advertisers=("USA_1", "USA_2"))


@pytest.fixture
def vendor(data: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Iterator[LipsSandbox]:
    """The sandbox as ``lips_default``, with a fast client budget."""
    with LipsSandbox(data, token=TOKEN, api_key=API_KEY, max_per_page=25) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, requests_per_second=500))
        yield server


def pull_to_file(path: Path, start: datetime = START, end: datetime = END, **arguments: Any) -> dict[str, Any]:
    arguments.setdefault("include_archived", True)
    arguments.setdefault("per_page", 25)
    operator = pull(destination=f"file://{path}", **arguments)
    manifest: dict[str, Any] = run(operator, start, end)
    return manifest


def load(manifest: dict[str, Any], **arguments: Any) -> dict[str, Any]:
    result: dict[str, Any] = LipsContactInteractionsToSqlOperator(task_id="load", source=manifest, **arguments).execute({})
    return result


def file_records(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    text = Path(manifest["uri"].removeprefix("file://")).read_text()
    return [json.loads(line) for line in text.splitlines()]


def warehouse_sets(warehouse: Warehouse, advertiser: str = "USA_1") -> dict[str, set[int]]:
    rows = warehouse.rows(
        "SELECT id, archived_at, removed_at FROM lips_contact_interactions WHERE global_master_advertiser_id = "
        + ("?" if warehouse.dialect == "sqlite" else "%s"),
        (advertiser,),
    )
    return {
        "live": {i for i, archived, removed in rows if archived is None and removed is None},
        "archived": {i for i, archived, removed in rows if archived is not None and removed is None},
        "removed": {i for i, _, removed in rows if removed is not None},
    }


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_documented_shape_pulls_complete_and_loads(
    vendor: LipsSandbox, warehouse: Warehouse, data: list[dict[str, Any]], tmp_path: Path, variant: dict[str, Any]
) -> None:
    vendor.configure(**variant)
    live = vendor.truth(global_master_advertiser_id="USA_1")
    for interaction_id in live[5:9]:
        vendor.archive(interaction_id, START + timedelta(days=6))
    live, archived = vendor.truth(global_master_advertiser_id="USA_1"), vendor.truth(global_master_advertiser_id="USA_1", archived=True)

    manifest = pull_to_file(tmp_path / "interactions.jsonl")

    records = file_records(manifest)
    assert {r["id"] for r in records} == set(live) | set(archived) and len(records) == len(live) + 4
    assert (manifest["live_records"], manifest["archived_records"], manifest["complete"]) == (len(live), 4, True)
    assert [(c["archived"], c["completeness"], c["compared"]) for c in manifest["completeness"]] == [
        (False, "checked", "totals.events"),
        (True, "checked", "single page"),  # the 4 archived fit on one page: complete by itself, no totals
    ]
    if "burst_429" in variant:  # the 429s were waited out and the pull still complete
        assert [e["status"] for e in vendor.requests].count(429) == len(variant["burst_429"])

    result = load(manifest)

    anonymous = sum(1 for r in records if isinstance(r.get("contact"), dict) and "id" not in r["contact"])
    assert (variant.get("contacts_without_id", 0) > 0) == (anonymous > 0)
    assert result["interactions"] == len(records) and result["contacts_skipped"] == anonymous
    assert result["removed"] == 0 and result["sync"].startswith("synced advertiser USA_1")
    assert warehouse_sets(warehouse) == {"live": set(live), "archived": set(archived), "removed": set()}
    # The typed columns read the same whatever the spelling: plain types, the same instants.
    canonical = {r["id"]: r for r in data}
    typed = warehouse.rows(f"SELECT id, event_type, {warehouse.utc_text('occurred_at')} FROM lips_contact_interactions")
    for interaction_id, event_type, occurred in typed:
        original = canonical[interaction_id]
        assert event_type == original["event_type"] in PLAIN_TYPES
        moment = utc(original["occurred_at"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        assert occurred == moment


@pytest.mark.parametrize("count_fpd", [True, False], ids=["totals-count-fpd", "totals-leave-fpd-out"])
def test_fpd_events_pass_whether_or_not_totals_counts_them(
    vendor: LipsSandbox, data: list[dict[str, Any]], tmp_path: Path, count_fpd: bool
) -> None:
    vendor.configure(totals_count_fpd=count_fpd)
    first = next(r for r in data if r["global_master_advertiser_id"] == "USA_1")
    for offset in range(3):
        vendor.insert({**first, "id": 9_000_000 + offset, "event_type": "fpd", "fpd": {"email": "x@example.com"}})
    manifest = pull_to_file(tmp_path / "interactions.jsonl", include_archived=False)
    live = vendor.truth(global_master_advertiser_id="USA_1")
    (check,) = manifest["completeness"]
    assert check["completeness"] == "checked" and check["distinct_seen"] == len(live)
    assert check["server_totals"] == len(live) - (0 if count_fpd else 3)
    assert {r["id"] for r in file_records(manifest)} >= {9_000_000, 9_000_001, 9_000_002}


NOT_CHECKABLE = "not checkable: "
FILTERED: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # name: (sandbox settings, operator filters, what the manifest says for each query)
    "two-counted-types": ({}, {"event_types": ["call", "form"]}, "checked call_events+form_events"),
    "fpd": ({}, {"event_types": ["fpd"]}, NOT_CHECKABLE + "totals has no count for event type(s) fpd"),
    "form-sub-type": ({}, {"event_types": ["chat_sales"]}, NOT_CHECKABLE + "totals has no count for event type(s) chat_sales"),
    "channel-nested": ({}, {"channels": ["search"]}, "checked channel.search"),
    "channel-flat": (
        {"totals_shape": "flat"},
        {"channels": ["search"]},
        NOT_CHECKABLE + "GET /contact_interactions/totals answered (flat shape) without a count 'channel.search'",
    ),
    "phone": ({}, {"phone_numbers": ["PHONE"]}, NOT_CHECKABLE + "totals has no count per phone number"),
    "type-and-channel": (
        {}, {"event_types": ["call"], "channels": ["search"]}, NOT_CHECKABLE + "totals counts types and channels separately"
    ),
    "completeness-off": ({}, {"completeness": "off"}, ""),
    "totals-ignore-archived": ({"totals_ignore_archived": True}, {}, "checked totals.events"),
}


@pytest.mark.parametrize(("settings", "arguments", "said"), FILTERED.values(), ids=FILTERED.keys())
def test_filtered_or_unverified_pulls_deliver_but_never_remove(
    vendor: LipsSandbox, warehouse: Warehouse, data: list[dict[str, Any]], tmp_path: Path,
    settings: dict[str, Any], arguments: dict[str, Any], said: str,
) -> None:
    vendor.configure(**settings)
    # Enough of every filtered kind (and archived ones) that each filtered query spans pages of 2.
    first = next(r for r in data if r["global_master_advertiser_id"] == "USA_1")
    for offset, kind in enumerate(["fpd"] * 3 + ["chat_sales"] * 3):
        vendor.insert({**first, "id": 9_100_000 + offset, "event_type": kind, "fpd": {"email": "x@example.com"}})
    for interaction_id in vendor.truth(global_master_advertiser_id="USA_1")[:3]:
        vendor.archive(interaction_id, START + timedelta(days=1))
    load(pull_to_file(tmp_path / "full.jsonl"))
    everything = warehouse_sets(warehouse)
    for victim in sorted(everything["live"])[:10]:
        vendor.delete(victim)  # gone at the vendor: only a complete unfiltered pull may say so
    if arguments.get("phone_numbers"):
        someone = next(r for r in data if r["global_master_advertiser_id"] == "USA_1")["contact"]
        arguments = {**arguments, "phone_numbers": [someone["phone_numbers"][0]["phone_number"]]}

    # Pages of 2: every query spans pages, so it is checked against totals (or said not to be checkable);
    # a query that fits on one page is complete by itself and says "single page".
    manifest = pull_to_file(tmp_path / "filtered.jsonl", per_page=2, **arguments)

    truth_filters = {
        "event_type": arguments.get("event_types", []), "channel": arguments.get("channels", []),
        **({"phone_numbers": arguments["phone_numbers"]} if "phone_numbers" in arguments else {}),
    }
    truth = {
        *vendor.truth(global_master_advertiser_id="USA_1", **truth_filters),
        *vendor.truth(global_master_advertiser_id="USA_1", archived=True, **truth_filters),
    }
    assert {r["id"] for r in file_records(manifest)} == truth
    outcomes = {
        " ".join(filter(None, (c["completeness"], c["compared"]))) for c in manifest["completeness"] if c["compared"] != SINGLE_PAGE
    }
    if settings.get("totals_ignore_archived"):  # the live walk checks out, the archived one cannot be checked
        assert [c["completeness"] for c in manifest["completeness"]] == [
            "checked", NOT_CHECKABLE + "totals answered archived=true exactly as without it, so it does not count archived interactions",
        ]
        assert manifest["complete"] is False and load(manifest)["removed"] == 0
        return
    if said.startswith(NOT_CHECKABLE):
        assert len(outcomes) == 1 and outcomes.pop().startswith(said)
    else:
        assert outcomes == ({said} if said else set())
    assert manifest["complete"] is said.startswith("checked")
    result = load(manifest)
    assert result["removed"] == 0 and not result["sync"].startswith("synced")
    assert warehouse_sets(warehouse) == everything


@pytest.mark.parametrize("layout", ["one-file", "file-per-day"])
def test_days_of_archiving_unarchiving_and_deleting_keep_the_warehouse_equal_to_the_vendor(
    vendor: LipsSandbox, warehouse: Warehouse, data: list[dict[str, Any]], tmp_path: Path, layout: str
) -> None:
    """Four daily runs with a 10-day lookback; between them the vendor's users change interactions.

    With one file per occurrence day, each day's file brings exactly its own day in line.
    """
    by_id = {r["id"]: r for r in data}
    usa_2 = pull_to_file(tmp_path / "usa2.jsonl", global_master_advertiser_id="USA_2")
    load(usa_2)
    usa_2_before = warehouse_sets(warehouse, "USA_2")
    old = {**by_id[vendor.truth(global_master_advertiser_id="USA_1")[0]], "id": 1, "occurred_at": "2026-09-01T12:00:00.000Z"}
    vendor.insert(old)  # far before every daily window: loaded once, then never touched
    load(pull_to_file(tmp_path / "old.jsonl", datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 9, 2, tzinfo=timezone.utc)))
    loaded: set[int] = set()
    live = vendor.truth(global_master_advertiser_id="USA_1")[1:]  # without the old one
    changes: list[list[Callable[[], None]]] = [
        [],
        [*(partial(vendor.archive, i) for i in live[0:4]), *(partial(vendor.delete, i) for i in live[4:7])],
        [
            *(partial(vendor.unarchive, i) for i in live[0:2]),
            partial(vendor.delete, live[2]),
            *(partial(vendor.archive, i) for i in live[7:9]),
            partial(vendor.delete, 1),  # outside the window: its row must stay as loaded
            *(partial(vendor.delete, i) for i in vendor.truth(global_master_advertiser_id="USA_2")[:2]),  # another scope
        ],
        [partial(vendor.insert, by_id[live[4]]), partial(vendor.delete, live[9])],  # one deleted interaction is back
    ]
    for day, change in enumerate(changes):
        for step in change:
            step()
        run_day = END + timedelta(days=day)  # its window, widened by the lookback, covers all the data
        day_folder = "occurred_date={occurred_date}" if layout == "file-per-day" else f"date={run_day.date()}"
        path = tmp_path / f"gmaid=USA_1/{day_folder}/contact_interactions.jsonl"
        manifest = pull_to_file(path, run_day, run_day + timedelta(days=1), lookback="P10D")
        assert manifest["complete"] is True and ("files" in manifest) == (layout == "file-per-day")
        result = load(manifest)

        truth_live = set(vendor.truth(global_master_advertiser_id="USA_1", start_date="2026-09-20"))
        truth_archived = set(vendor.truth(global_master_advertiser_id="USA_1", archived=True))
        loaded |= truth_live | truth_archived
        sets = warehouse_sets(warehouse)
        assert sets["live"] - {1} == truth_live and sets["archived"] == truth_archived, f"day {day}"
        assert sets["removed"] == loaded - truth_live - truth_archived, f"day {day}"
        assert 1 in sets["live"]  # deleted at the vendor on day 2, but no pull covered its day since
        assert result["removed"] == {0: 0, 1: 3, 2: 1, 3: 1}[day]
    assert warehouse_sets(warehouse, "USA_2") == usa_2_before
    assert set(live[4:5]) <= sets["live"] and live[9] in sets["removed"]
    # The same runs with on_removed="delete": removed rows leave the table.
    result = load(manifest, on_removed="delete")
    assert result["removed"] == len(sets["removed"])
    assert warehouse_sets(warehouse)["removed"] == set()


def test_include_archived_and_on_removed_are_checked_before_any_request() -> None:
    from airflow_provider_lips.exceptions import LipsValidationError

    # "yes" is read as true (tests/operators/test_settings_spellings.py); what is no boolean is refused.
    with pytest.raises(LipsValidationError, match=r"include_archived must be true or false .*, got 'maybe'"):
        pull(include_archived="maybe")
    with pytest.raises(LipsValidationError, match=r"on_removed must be 'mark' \(set removed_at\) or 'delete'"):
        LipsContactInteractionsToSqlOperator(task_id="load", source="file:///x.jsonl", on_removed="purge")
