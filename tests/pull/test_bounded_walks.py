"""Bounded walks: a page count contradicted by empty pages or by the listing's totals does not make the pull
walk on. The lying count (total_pages: 1,000,000 over 250 real records) ends with exactly those records in a
few dozen requests; pages that repeat page 1, or stay full past what the totals allow, fail naming why.

Real HTTP against the sandbox's switches, through the operator (a task's execute) writing a real file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError
from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import API_KEY, TOKEN, data_requests, expected_ids, lips_connection, pull, run

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 11, 29, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def real250() -> list[dict]:
    """250 interactions of one advertiser: 3 pages of 100."""
    return generate_interactions(seed=18, count=250, start=START, end=END, advertisers=("USA_1",))


@pytest.fixture
def liar(real250: list[dict], monkeypatch: pytest.MonkeyPatch) -> Iterator[LipsSandbox]:
    with LipsSandbox(real250, token=TOKEN, api_key=API_KEY, lie_total_pages=1_000_000) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url))  # the default 20 requests/s
        yield server


def ids_in(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("completeness", ["fail", "off"])
def test_a_lying_page_count_ends_with_the_exact_records(
    completeness: str, liar: LipsSandbox, real250: list[dict], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With totals (fail) the walk is bounded by them and by the first empty page; without (off) by the empty page."""
    target = tmp_path / "out.jsonl"
    started = time.monotonic()
    manifest = run(pull(destination=str(target), completeness=completeness), START, END)
    elapsed = time.monotonic() - started
    ids = ids_in(target)
    assert sorted(ids) == sorted(expected_ids(real250, START, END)) and len(ids) == 250
    requests = data_requests(liar)
    assert len(requests) < 100, f"{len(requests)} requests for 3 pages of data"
    assert elapsed < 180
    assert manifest["records"] == 250
    if completeness == "fail":
        assert manifest["complete"] is True
        assert manifest["completeness"][0]["server_totals"] == manifest["completeness"][0]["distinct_seen"] == 250
    assert "is empty although the listing announces 1000000 pages; it ends there" in caplog.text
    print(f"lying total_pages=1000000, completeness={completeness}: {len(requests)} requests, {elapsed:.1f}s")


def test_pages_that_repeat_page_one_fail_naming_the_server_ignoring_page(
    liar: LipsSandbox, tmp_path: Path
) -> None:
    liar.configure(ignore_page=True)
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), completeness="off"), START, END)
    message = str(raised.value)
    assert message.startswith("pages 1 to 3 of GET /contact_interactions?global_master_advertiser_id=USA_1&start_date=")
    assert "hold exactly the same records: the server ignores 'page', so walking its 1000000 pages" in message
    assert len(data_requests(liar)) < 30
    assert list(tmp_path.iterdir()) == []


def test_full_pages_past_what_the_totals_allow_fail_naming_the_contradiction(
    liar: LipsSandbox, tmp_path: Path
) -> None:
    """Totals say 10 (a page of 100 holds them), yet page after page comes back full: stop at 2 x 1 + 2 = 4 pages."""
    liar.configure(totals_events=10, lie_total_pages=None)
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), per_page=25), START, END)
    message = str(raised.value)
    assert "the listing announces 10 pages and page 4 is still full, but its totals count 10 records (1 pages of 25)" in message
    assert "the page count and the totals contradict each other. Stopped after 4 pages instead of walking 10." in message
    listing = [e for e in data_requests(liar) if e["path"] == "/contact_interactions"]
    assert len(listing) < 20
    assert list(tmp_path.iterdir()) == []


def test_an_honest_listing_is_walked_whole(real250: list[dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The contrast: the same data, honestly paged, walks exactly its 10 pages of 25 (plus the probe and totals)."""
    with LipsSandbox(real250, token=TOKEN, api_key=API_KEY) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, requests_per_second=500))
        target = tmp_path / "out.jsonl"
        manifest: dict[str, Any] = run(pull(destination=str(target), per_page=25), START, END)
        assert sorted(ids_in(target)) == sorted(expected_ids(real250, START, END))
        assert manifest["complete"] is True
        assert len([e for e in data_requests(server) if e["path"] == "/contact_interactions"]) == 11
