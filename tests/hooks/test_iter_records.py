"""LipsHook.iter_contact_interactions / iter_contacts against the sandbox over real HTTP: the operators' records, in Python."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError, LipsValidationError
from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.operators.contacts import LipsContactsOperator
from lips_sandbox import LipsSandbox
from tests.support import WEEK, data_requests, expected_ids, plaintext_pii, pull, run

CONTACTS_WINDOW = (datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc))


def by_id(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {record["id"]: record for record in records}


def test_interactions_of_a_window_are_the_operators_records_each_once(lips_conn: LipsSandbox, interactions: list[dict[str, Any]]) -> None:
    lips_conn.configure(max_per_page=10)
    records = list(LipsHook(concurrency=4).iter_contact_interactions("USA_1", *WEEK))
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    assert by_id(records) == by_id(run(pull(per_page=10), *WEEK))  # every field as the operator returns it


def test_filters_and_text_bounds_narrow_the_window_exactly(lips_conn: LipsSandbox, interactions: list[dict[str, Any]]) -> None:
    records = list(
        LipsHook().iter_contact_interactions("USA_1", "2026-11-10T06:00:00Z", "2026-11-12", event_types=["call", "form"])
    )
    start, end = datetime(2026, 11, 10, 6, tzinfo=timezone.utc), datetime(2026, 11, 12, tzinfo=timezone.utc)
    in_window = expected_ids(interactions, start, end, global_master_advertiser_id="USA_1")
    wanted = {r["id"] for r in interactions if r["id"] in in_window and r["event_type"] in ("call", "form")}
    assert wanted and {r["id"] for r in records} == wanted


def test_a_list_that_shifts_under_the_walk_still_yields_each_interaction_once(
    lips_conn: LipsSandbox, interactions: list[dict[str, Any]]
) -> None:
    lips_conn.configure(max_per_page=10, mutate_during_walk={"after_requests": 2, "insert": 3, "archive": 0})
    ids = [r["id"] for r in LipsHook().iter_contact_interactions("USA_1", *WEEK, completeness="off")]
    assert len(ids) == len(set(ids))
    assert expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1") <= set(ids)


def test_contacts_of_a_window_are_the_operators_records(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(max_per_page=4)
    records = list(LipsHook(concurrency=4).iter_contacts("USA_1", *CONTACTS_WINDOW))
    assert len(records) > 20 and len({r["id"] for r in records}) == len(records)
    operator = LipsContactsOperator(task_id="contacts", global_master_advertiser_id="USA_1")
    assert records == run(operator, *CONTACTS_WINDOW)


def test_a_pii_policy_applies_to_every_record(lips_conn: LipsSandbox, interactions: list[dict[str, Any]]) -> None:
    records = list(LipsHook().iter_contact_interactions("USA_1", *WEEK, pii="drop"))
    plain = list(LipsHook().iter_contact_interactions("USA_1", *WEEK))
    assert [r["id"] for r in records] == [r["id"] for r in plain]
    text = json.dumps(records)
    assert plaintext_pii(plain) and not [value for value in plaintext_pii(plain) if value in text]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda hook: hook.iter_contact_interactions("USA_1", *WEEK, colour="red"), r"does not filter by \['colour'\]"),
        (lambda hook: hook.iter_contacts("USA_1", WEEK[1], WEEK[0]), "end"),
        (lambda hook: hook.iter_contact_interactions(None, *WEEK), "global_master_advertiser_id"),
        (lambda hook: hook.iter_contact_interactions("USA_1", *WEEK, completeness="maybe"), "completeness"),
        (lambda hook: hook.iter_contacts("USA_1", *WEEK, pii="scramble"), "pii"),
    ],
    ids=["unknown-filter", "end-before-start", "no-advertiser", "completeness", "pii"],
)
def test_bad_arguments_fail_at_the_call_before_any_request(lips_conn: LipsSandbox, call: object, message: str) -> None:
    with pytest.raises(LipsValidationError, match=message):
        call(LipsHook())  # type: ignore[operator]
    assert data_requests(lips_conn) == []


def test_leaving_the_loop_early_stops_the_pull(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(max_per_page=5)
    hook = LipsHook(concurrency=2)
    records = hook.iter_contact_interactions("USA_1", *WEEK, completeness="off")
    first = [next(records) for _ in range(5)]
    records.close()  # returns once the pull has stopped
    sent = len(data_requests(lips_conn))
    assert len(first) == 5 and sent < 20  # the week is more than 50 pages of 5
    list(hook.iter_contact_interactions("USA_2", WEEK[0], WEEK[0] + timedelta(days=1), completeness="off"))
    assert all(e["params"]["global_master_advertiser_id"] == ["USA_2"] for e in data_requests(lips_conn)[sent:])


def test_an_error_mid_pull_reaches_the_caller_after_the_records_before_it(lips_conn: LipsSandbox) -> None:
    lips_conn.configure(max_per_page=10)
    hook = LipsHook(concurrency=1)
    full = list(hook.iter_contact_interactions("USA_1", *WEEK, completeness="off"))
    lips_conn.configure(malformed_pages=[8])
    seen: list[dict[str, Any]] = []
    records = hook.iter_contact_interactions("USA_1", *WEEK, completeness="off")
    with pytest.raises(LipsResponseError, match="page=8"):
        seen.extend(records)  # extend keeps what arrived before the error
    assert 0 < len(seen) < len(full) and seen == full[: len(seen)]  # pages 1 to 7, then the error
