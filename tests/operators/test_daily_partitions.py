"""A destination with {occurred_date}: one file per day of occurrence, never two files holding one interaction."""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError, LipsValidationError
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.warehouse import load_contact_interactions
from lips_sandbox import LipsSandbox
from tests.support import context, lake_partitions, truth_by_day

INTERVAL = datetime(2026, 11, 20, tzinfo=timezone.utc)
GMAID = "USA_1"


def run(operator: LipsContactInteractionsOperator, start: datetime = INTERVAL) -> dict[str, Any]:
    result: dict[str, Any] = operator.execute(context(start, start + timedelta(days=1)))
    return result


def daily(lake: Path, **kwargs: Any) -> LipsContactInteractionsOperator:
    return LipsContactInteractionsOperator(
        task_id="pull",
        global_master_advertiser_id=GMAID,
        destination=f"file://{lake}/gmaid={GMAID}/occurred_date={{occurred_date}}/contact_interactions.jsonl",
        **kwargs,
    )


def partitions(lake: Path) -> dict[str, list[int]]:
    return lake_partitions(lake / f"gmaid={GMAID}")


def test_a_ten_day_lookback_writes_eleven_day_partitions_that_never_overlap(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path
) -> None:
    manifest = run(daily(tmp_path, lookback="P10D"))
    seen = partitions(tmp_path)
    truth = truth_by_day(interactions, date(2026, 11, 10), date(2026, 11, 20), global_master_advertiser_id=GMAID)
    assert {day: set(ids) for day, ids in seen.items()} == truth
    every_id = [i for ids in seen.values() for i in ids]
    assert len(every_id) == len(set(every_id)) == manifest["records"] > 100  # no interaction in two partitions
    assert "uri" not in manifest and manifest["destination"].endswith("/occurred_date={occurred_date}/contact_interactions.jsonl")
    assert [(f["occurred_date"], f["records"]) for f in manifest["files"]] == [(d, len(ids)) for d, ids in truth.items()]
    assert manifest["files"][0]["window_start"] == "2026-11-10T00:00:00Z"
    assert manifest["files"][0]["window_end"] == "2026-11-11T00:00:00Z"
    assert manifest["window_start"] == "2026-11-10T00:00:00Z" and manifest["window_end"] == "2026-11-21T00:00:00Z"
    assert not list(tmp_path.rglob("*.partial"))


def test_the_next_run_replaces_every_day_it_covers_with_that_days_interactions(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path
) -> None:
    run(daily(tmp_path, lookback="P10D"))
    untouched = (tmp_path / f"gmaid={GMAID}/occurred_date=2026-11-10/contact_interactions.jsonl").read_bytes()
    # A late arrival occurred on the 12th, ingested after the first run.
    late = copy.deepcopy(next(r for r in interactions if r["global_master_advertiser_id"] == GMAID))
    late.update(id=9_000_001, occurred_at="2026-11-12T08:00:00.000Z", created_at="2026-11-21T09:00:00.000Z")
    lips_conn.insert(late)
    run(daily(tmp_path, lookback="P10D"), INTERVAL + timedelta(days=1))
    seen = partitions(tmp_path)
    assert {day: set(ids) for day, ids in seen.items()} == truth_by_day(
        [*interactions, late], date(2026, 11, 10), date(2026, 11, 21), global_master_advertiser_id=GMAID
    )
    assert 9_000_001 in seen["2026-11-12"]
    # The 10th lies outside the second run's window: its file is as the first run left it.
    assert (tmp_path / f"gmaid={GMAID}/occurred_date=2026-11-10/contact_interactions.jsonl").read_bytes() == untouched


def test_a_window_that_is_not_whole_days_is_widened_to_them(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path
) -> None:
    manifest = run(daily(tmp_path, lookback="PT36H"))  # [Nov 18 12:00, Nov 21): the 18th must still be whole
    assert manifest["window_start"] == "2026-11-18T00:00:00Z" and manifest["requested_window_start"] == "2026-11-20T00:00:00Z"
    assert {day: set(ids) for day, ids in partitions(tmp_path).items()} == truth_by_day(
        interactions, date(2026, 11, 18), date(2026, 11, 20), global_master_advertiser_id=GMAID
    )


def test_the_load_takes_every_file_of_the_manifest(lips_conn: LipsSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DAILY_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    manifest = run(daily(tmp_path / "lake", lookback="P3D"))
    result = load_contact_interactions(manifest, "lips_daily_warehouse")
    assert result.records == manifest["records"] == sum(f["records"] for f in manifest["files"])
    assert result.rows["lips_contact_interactions"] == {"inserted": manifest["records"], "updated": 0, "unchanged": 0}
    with sqlite3.connect(db) as conn:
        loaded = sorted(row[0] for row in conn.execute("SELECT id FROM lips_contact_interactions"))
    assert loaded == sorted(i for ids in partitions(tmp_path / "lake").values() for i in ids)
    again = load_contact_interactions(manifest, "lips_daily_warehouse")
    assert again.rows["lips_contact_interactions"] == {"inserted": 0, "updated": 0, "unchanged": manifest["records"]}


def test_a_failed_pull_leaves_every_day_as_it_was(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    run(daily(tmp_path, lookback="P2D"))
    before = {path: path.read_bytes() for path in tmp_path.rglob("*.jsonl")}
    lips_conn.configure(max_per_page=10, malformed_pages=[3])
    with pytest.raises(LipsResponseError):
        run(daily(tmp_path, lookback="P2D", per_page=10, concurrency=1))
    assert {path: path.read_bytes() for path in tmp_path.rglob("*.jsonl")} == before
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize(
    ("destination", "fragment"),
    [
        ("file:///lake/{occurred_date}/{occurred_date}.jsonl", "must hold {occurred_date} once, in its path"),
        ("file:///lake/occurred_date={occurred_date}/", "names a folder"),
        ("lake/occurred_date={occurred_date}/x.jsonl", "'lake/occurred_date={occurred_date}/x.jsonl' is a relative path"),
    ],
)
def test_a_bad_daily_destination_fails_before_any_request(destination: str, fragment: str, lips_conn: LipsSandbox) -> None:
    with pytest.raises(LipsValidationError) as raised:
        run(LipsContactInteractionsOperator(task_id="pull", global_master_advertiser_id=GMAID, destination=destination))
    assert fragment in str(raised.value)
    assert not lips_conn.requests
