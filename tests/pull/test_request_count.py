"""The fewest requests the data needs, counted in the sandbox's own request log (real HTTP).

Per query of a pull: 1 request when the listing fits on one page (that answer is the whole list);
for ``n > 1`` pages checked against totals, ``n + 2`` up to ``SHORT_LISTING_PAGES`` pages
(``SHARED_BUDGET_LISTING_PAGES`` for a pull sharing its hook, as in a batch: page 1, pages n down to 1
one at a time, totals) and ``n + 3`` beyond (page 1, totals, pages 1..n concurrently, totals); ``n``
when the filters leave nothing for totals to count. See docs/agency-scale.md.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.pull.engine import SHARED_BUDGET_LISTING_PAGES, SHORT_LISTING_PAGES
from lips_sandbox import LipsSandbox
from tests.support import DAY, WEEK, context, data_requests, expected_ids, pull, run

LISTING, TOTALS = "/contact_interactions", "/contact_interactions/totals"
NEXT_DAY = DAY + timedelta(days=1)
ONE_PAGE = 500  # USA_1's day (with the server dates either side that cover it) fits on one page of 500


def sent(server: LipsSandbox) -> list[tuple[str, str | None]]:
    """The data requests in arrival order: (path, page number or None for totals)."""
    return [(e["path"], e["params"]["page"][0] if "page" in e["params"] else None) for e in data_requests(server)]


def pull_to(tmp_path: Path, start: Any, end: Any, **arguments: Any) -> dict[str, Any]:
    """A pull into a file; its manifest."""
    manifest: dict[str, Any] = run(pull(destination=f"file://{tmp_path}/out.jsonl", **arguments), start, end)
    return manifest


def test_a_one_page_listing_costs_one_request_and_is_complete(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path
) -> None:
    lips_conn.configure(max_per_page=ONE_PAGE)
    manifest = pull_to(tmp_path, DAY, NEXT_DAY, per_page=ONE_PAGE)
    assert sent(lips_conn) == [(LISTING, "1")]
    assert manifest["records"] == len(expected_ids(interactions, DAY, NEXT_DAY, global_master_advertiser_id="USA_1")) > 0
    assert manifest["complete"] is True
    assert [(c["completeness"], c["compared"], c["server_totals"]) for c in manifest["completeness"]] == [
        ("checked", "single page", None)
    ]


def test_the_archived_listing_of_one_page_costs_one_more(lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path) -> None:
    lips_conn.configure(max_per_page=ONE_PAGE)
    day = expected_ids(interactions, DAY, NEXT_DAY, global_master_advertiser_id="USA_1")
    lips_conn.archive(min(day))
    manifest = pull_to(tmp_path, DAY, NEXT_DAY, include_archived=True, per_page=ONE_PAGE)
    assert sent(lips_conn) == [(LISTING, "1"), (LISTING, "1")]
    assert [e["params"].get("archived") for e in data_requests(lips_conn)] == [None, ["true"]]
    assert (manifest["complete"], manifest["archived_records"], manifest["records"]) == (True, 1, len(day))


def test_an_advertiser_with_nothing_costs_one_request(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    manifest = pull_to(tmp_path, DAY, NEXT_DAY, global_master_advertiser_id="USA_999", include_archived=True)
    assert sent(lips_conn) == [(LISTING, "1"), (LISTING, "1")]
    assert manifest["records"] == 0 and manifest["complete"] is True


def test_a_short_multi_page_listing_is_walked_down_to_page_one_and_counted_once(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path
) -> None:
    truth = expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    manifest = pull_to(tmp_path, *WEEK, per_page=50)
    pages = max(int(page) for _, page in sent(lips_conn) if page)
    assert 2 < pages <= SHORT_LISTING_PAGES
    # Page 1 tells there is more; then pages n, n-1, ..., 1, one at a time, and totals once: n + 2 requests.
    assert sent(lips_conn) == [(LISTING, "1"), *[(LISTING, str(n)) for n in range(pages, 0, -1)], (TOTALS, None)]
    (check,) = manifest["completeness"]
    assert (check["completeness"], check["compared"], check["walks"]) == ("checked", "totals.events", 1)
    assert check["server_totals"] == check["distinct_seen"] >= len(truth) == manifest["records"]
    assert manifest["complete"] is True and manifest["walks"] == 1


def test_a_long_multi_page_walk_is_proven_between_two_totals(lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path) -> None:
    truth = expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    manifest = pull_to(tmp_path, *WEEK, per_page=10, concurrency=1)
    pages = max(int(page) for _, page in sent(lips_conn) if page)
    assert pages > SHORT_LISTING_PAGES
    # Page 1 tells there is more; the walk proper (concurrent, for throughput) is bracketed by totals: n + 3 requests.
    assert sent(lips_conn) == [(LISTING, "1"), (TOTALS, None), *[(LISTING, str(n)) for n in range(1, pages + 1)], (TOTALS, None)]
    (check,) = manifest["completeness"]
    assert (check["completeness"], check["compared"]) == ("checked", "totals.events")
    # Totals count the server dates that cover the window; the file keeps the window itself.
    assert check["server_totals"] == check["distinct_seen"] >= len(truth) == manifest["records"]
    assert manifest["complete"] is True and manifest["walks"] == 1


def test_a_multi_page_walk_totals_cannot_check_costs_its_pages_only(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    manifest = pull_to(tmp_path, *WEEK, per_page=10, concurrency=1, event_types=["call"], channels=["search"])
    requests = sent(lips_conn)
    assert {path for path, _ in requests} == {LISTING}
    assert [page for _, page in requests] == [str(n) for n in range(1, len(requests) + 1)] and len(requests) > 1
    assert manifest["completeness"][0]["completeness"].startswith("not checkable: ")


def test_a_pull_sharing_its_hook_walks_a_longer_listing_down_too(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    """As the batch operator runs its pulls: on one shared hook, whose other pulls keep the rate budget busy."""
    hook = LipsHook(per_page=10)
    try:
        manifest = pull(destination=f"file://{tmp_path}/out.jsonl").pull_with(context(*WEEK), hook)
    finally:
        hook.close()
    pages = max(int(page) for _, page in sent(lips_conn) if page)
    assert SHORT_LISTING_PAGES < pages <= SHARED_BUDGET_LISTING_PAGES
    assert sent(lips_conn) == [(LISTING, "1"), *[(LISTING, str(n)) for n in range(pages, 0, -1)], (TOTALS, None)]
    assert manifest["complete"] is True and manifest["walks"] == 1
