"""A short listing is walked from its last page down to page 1, one page at a time, then counted once by totals
(pull/engine.py, ``Pull._first_walk``). These tests change the list in the sandbox WHILE that walk is under way
(from the sink, which the engine calls before it asks for the next page) and check that every change that
could lose a record is noticed and walked again, and that the output ends up holding the whole list.

Real HTTP against the sandbox; the list is USA_2's 298 interactions, 6 pages of 50, in LIPS order
(``occurred_at`` descending, then ``id`` descending), so an inserted copy of a record with a larger id lands
just before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.pull.engine import Pull
from airflow_provider_lips.pull.window import TimeWindow
from lips_sandbox import LipsSandbox
from tests.support import DATA_END, DATA_START, data_requests, expected_ids

LISTING, TOTALS = "/contact_interactions", "/contact_interactions/totals"
GMAID, PER_PAGE = "USA_2", 50


def listing_order(server: LipsSandbox) -> list[int]:
    """The ids the pull's query lists, in LIPS order."""
    start_date, end_date = TimeWindow(DATA_START, DATA_END).server_dates()
    return server.truth(global_master_advertiser_id=GMAID, start_date=start_date, end_date=end_date)


def walk_changing(server: LipsSandbox, after_page: int, change: Callable[[], None]) -> tuple[list[int], dict[str, Any]]:
    """Pull USA_2, calling ``change()`` once, right after the descending walk's page ``after_page`` answered
    (the next page is asked for only after the sink returns); the ids written and the query's check."""
    pages = -(-len(listing_order(server)) // PER_PAGE)
    ids: list[int] = []
    done: list[bool] = []

    def sink(records: list[dict[str, Any]]) -> None:
        ids.extend(record["id"] for record in records)
        answered = [e["params"]["page"][0] for e in data_requests(server) if e["path"] == LISTING]
        # The probe's page 1, then pages n, n-1, ...: page ``after_page`` of the descending walk just came in.
        if len(answered) == 2 + pages - after_page and not done:
            assert answered[-1] == str(after_page)
            done.append(True)
            change()

    hook = LipsHook(per_page=PER_PAGE)
    try:
        filters = ContactInteractionFilters.from_values(global_master_advertiser_id=GMAID)
        stats = Pull(hook, CONTACT_INTERACTIONS, filters, TimeWindow(DATA_START, DATA_END)).run(sink)
    finally:
        hook.close()
    assert done, "the change happened during the descending walk"
    (check,) = stats.completeness
    return ids, check


def copy_before(server: LipsSandbox, position: int) -> int:
    """Insert a copy of the record at ``position`` of the listing, which takes that position; its id."""
    target = listing_order(server)[position]
    record = next(r for r in server.interactions if r["id"] == target)
    new_id = max(r["id"] for r in server.interactions) + 1
    server.insert({**record, "id": new_id})
    return new_id


@pytest.mark.parametrize(
    ("after_page", "action", "position", "walks"),
    [
        # Page 1 (not read again yet): an insertion pushes page 1's last record onto page 2, already read.
        (2, "insert", 10, 2),
        # A deletion there pulls page 2's first record onto page 1, which is still to be read: nothing is
        # lost and the count agrees (the deleted one was not seen by this walk), so one walk is enough.
        (2, "delete", 10, 1),
        # Page 2, still to read: its last record is pushed onto page 3, read, and seen by no walk but the next.
        (3, "insert", 60, 2),
        (3, "delete", 60, 1),
        # Page 4, already read: the inserted record is not seen, the deleted one was; both change the count.
        (2, "insert", 160, 2),
        (2, "delete", 160, 2),
    ],
)
def test_a_change_during_the_descending_walk_is_noticed_or_harmless(
    lips_conn: LipsSandbox, after_page: int, action: str, position: int, walks: int
) -> None:
    before = listing_order(lips_conn)
    assert -(-len(before) // PER_PAGE) == 6
    changed: list[int] = []

    def change() -> None:
        if action == "insert":
            changed.append(copy_before(lips_conn, position))
        else:
            changed.append(before[position])
            lips_conn.delete(before[position])

    ids, check = walk_changing(lips_conn, after_page, change)
    truth = expected_ids(lips_conn.interactions, DATA_START, DATA_END, global_master_advertiser_id=GMAID)
    assert len(ids) == len(set(ids)), "each record written once"
    if action == "insert":
        assert set(ids) == truth and changed[0] in truth
        if position % PER_PAGE:  # the record pushed onto a page already read is there too
            assert before[(position // PER_PAGE + 1) * PER_PAGE - 1] in set(ids)
    else:
        # The deleted record is written only if a walk saw it before it went (page 1's was seen by the probe).
        seen_before = position < PER_PAGE or position >= (after_page - 1) * PER_PAGE
        assert set(ids) == truth | (set(changed) if seen_before else set()) and changed[0] not in truth
    assert (check["completeness"], check["walks"]) == ("checked", walks)
    assert check["server_totals"] == check["distinct_seen"] == len(truth)
    listing = [(e["path"], e["params"].get("page", [None])[0]) for e in data_requests(lips_conn)]
    descending = [(LISTING, "1"), *[(LISTING, str(n)) for n in range(6, 0, -1)], (TOTALS, None)]
    assert listing[: len(descending)] == descending
    if walks == 2:  # walked again, concurrently, between the totals it ended with and one more
        assert listing[len(descending)] == (LISTING, "1") and listing[-1] == (TOTALS, None)
    else:
        assert listing == descending
