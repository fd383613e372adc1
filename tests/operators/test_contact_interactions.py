"""The operator end to end against the sandbox: exact windows, every page, dedupe, XCom and files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError, LipsXComLimitError
from lips_sandbox import LipsSandbox
from tests.support import DAY, WEEK, data_requests, expected_ids, lips_connection, pull, run


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_xcom_holds_exactly_the_interval(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    records = run(pull())
    ids = [r["id"] for r in records]
    assert set(ids) == expected_ids(interactions, DAY, DAY + timedelta(days=1), global_master_advertiser_id="USA_1")
    assert len(ids) == len(set(ids)) > 10
    # Every field the API sent survives, including ones LIPS does not document.
    sent = {r["id"]: r for r in interactions}
    assert all(record == sent[record["id"]] for record in records)
    assert all("lead_score" in record for record in records)


def test_walks_every_page_with_a_capped_page_size(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    lips_conn.configure(max_per_page=7)
    records = run(pull(per_page=500), *WEEK)
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    listing = [e for e in data_requests(lips_conn) if e["path"] == "/contact_interactions"]
    pages = sorted(int(e["params"]["page"][0]) for e in listing)
    # Page 1 twice: first alone (it tells how many pages), then again as the walk between totals begins.
    assert pages == [1, *range(1, len(pages))] and len(pages) > 15


@pytest.mark.parametrize(
    ("argument", "extra", "on_the_wire"),
    [
        pytest.param({}, {}, {"per_page": "100"}, id="package-default"),
        pytest.param({}, {"per_page": 7, "concurrency": 2}, {"per_page": "7"}, id="extra-beats-default"),
        pytest.param({"per_page": 9}, {"per_page": 7}, {"per_page": "9"}, id="argument-beats-extra"),
    ],
)
def test_settings_resolve_argument_then_extra_then_default_on_the_wire(
    lips_conn: LipsSandbox,
    monkeypatch: pytest.MonkeyPatch,
    interactions: list[dict],
    argument: dict[str, int],
    extra: dict[str, Any],
    on_the_wire: dict[str, str],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(lips_conn.url, requests_per_second=500, **extra))
    records = run(pull(**argument), *WEEK)
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    listing = [e for e in data_requests(lips_conn) if e["path"] == "/contact_interactions"]
    assert listing and {e["params"]["per_page"][0] for e in listing} == {on_the_wire["per_page"]}


@pytest.mark.parametrize("offset_hours", [-12, 14])
def test_far_east_and_far_west_servers_miss_nothing(lips_conn: LipsSandbox, offset_hours: int) -> None:
    """Records one millisecond either side of each bound, with the server filtering in another zone."""
    start, end = DAY, DAY + timedelta(days=1)
    edges = {
        9_000_001: start - timedelta(milliseconds=1),
        9_000_002: start,
        9_000_003: end - timedelta(milliseconds=1),
        9_000_004: end,
    }
    template = next(r for r in lips_conn.interactions if r["global_master_advertiser_id"] == "USA_1")
    for key, moment in edges.items():
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        lips_conn.insert({**template, "id": key, "occurred_at": stamp, "created_at": stamp})
    lips_conn.configure(filter_utc_offset_hours=offset_hours)
    ids = {r["id"] for r in run(pull())}
    assert {9_000_002, 9_000_003} <= ids
    assert not {9_000_001, 9_000_004} & ids
    assert ids == expected_ids(lips_conn.interactions, start, end, global_master_advertiser_id="USA_1")


def test_consecutive_windows_neither_overlap_nor_gap(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    days = [DAY + timedelta(days=n) for n in range(3)]
    pulled = [{r["id"] for r in run(pull(), day)} for day in days]
    assert not (pulled[0] & pulled[1]) and not (pulled[1] & pulled[2])
    assert set().union(*pulled) == expected_ids(interactions, days[0], days[-1] + timedelta(days=1), global_master_advertiser_id="USA_1")


def test_several_advertisers_and_campaigns_merge_without_duplicates(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    records = run(pull(global_master_advertiser_id=["USA_1", "USA_2"]), *WEEK)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1") | expected_ids(
        interactions, *WEEK, global_master_advertiser_id="USA_2"
    )


def test_records_repeated_across_pages_are_kept_once(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    # A new interaction at the top of the list after page 1 shifts every later page down by one.
    lips_conn.configure(max_per_page=10, mutate_during_walk={"after_requests": 2, "insert": 3, "archive": 0})
    operator = pull(per_page=10, completeness="off")
    records = run(operator, *WEEK)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1") <= set(ids)


def test_xcom_guard_tells_the_user_to_set_a_destination(lips_conn: LipsSandbox) -> None:
    with pytest.raises(LipsXComLimitError, match="too many for XCom: set destination"):
        run(pull(xcom_max_records=20), *WEEK)


def test_destination_gets_json_lines_and_xcom_a_manifest(lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path) -> None:
    target = tmp_path / "out" / "interactions.jsonl"
    manifest = run(pull(destination=f"file://{target}", event_types=["call", "form", "chat"]), *WEEK)
    lines = read_jsonl(target)
    want = {
        i for i in expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
        if next(r for r in interactions if r["id"] == i)["event_type"] in ("call", "form", "chat")
    }
    assert {r["id"] for r in lines} == want and len(lines) == len(want)
    assert manifest["uri"] == f"file://{target}"
    assert manifest["records"] == len(want)
    assert manifest["pages"] >= 1
    assert manifest["window_start"] == "2026-11-10T00:00:00Z" and manifest["window_end"] == "2026-11-17T00:00:00Z"
    assert manifest["filters"]["global_master_advertiser_id"] == ["USA_1"]
    assert manifest["filters"]["event_types"] == ["call", "form", "chat"]
    assert manifest["completeness"][0]["server_totals"] == manifest["completeness"][0]["distinct_seen"]
    assert len(json.dumps(manifest)) < 4000
    assert [p.name for p in target.parent.iterdir()] == ["interactions.jsonl"]


def test_rerun_overwrites_and_never_appends(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    target = tmp_path / "interactions.jsonl"
    run(pull(destination=str(target)))
    first = target.read_bytes()
    run(pull(destination=str(target)))
    assert target.read_bytes() == first


def test_failure_mid_walk_leaves_the_previous_file(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    target = tmp_path / "interactions.jsonl"
    run(pull(destination=f"file://{target}", per_page=10), *WEEK)
    before = target.read_bytes()
    lips_conn.configure(max_per_page=10, malformed_pages=[4])
    not_json = r"GET /contact_interactions\?.*&page=4&per_page=10 answered 200 with a body that is not JSON"
    with pytest.raises(LipsResponseError, match=not_json):
        run(pull(destination=f"file://{target}", per_page=10, concurrency=1), *WEEK)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["interactions.jsonl"]


def test_failure_on_a_first_run_leaves_nothing(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    lips_conn.configure(max_per_page=10, missing_key_pages=[2])
    with pytest.raises(LipsResponseError, match=r"page 2 of GET /contact_interactions.*has no 'contact_interactions' list"):
        run(pull(destination=f"file://{tmp_path}/x.jsonl", per_page=10), *WEEK)
    assert list(tmp_path.iterdir()) == []


def test_progress_and_summary_are_logged(
    lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    lips_conn.configure(max_per_page=10)
    with caplog.at_level("DEBUG"):  # each page at DEBUG; INFO has the progress every few seconds (tests/pull/test_progress.py)
        records = run(pull(per_page=10))
    total_pages = len({e["params"]["page"][0] for e in data_requests(lips_conn) if e["path"] == "/contact_interactions"})
    assert f"page 1 of {total_pages}, " in caplog.text and f"page {total_pages} of {total_pages}, " in caplog.text
    # The operator logs through Airflow's structlog logger, which writes to stdout outside a task.
    summary = caplog.text + capsys.readouterr().out
    assert f"Pulled {len(records)} interactions with 2026-11-20T00:00:00Z <= occurred_at < 2026-11-21T00:00:00Z" in summary
