"""What /contact_interactions/totals can vouch for, in the documented nested shape and the older flat one."""

from __future__ import annotations

import pytest

from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.exceptions import LipsResponseError
from airflow_provider_lips.pull.records import event_type, occurred_at, plain_event_type
from airflow_provider_lips.pull.totals import TotalsCheck, TotalsUnavailable, totals_check

# The vendor's documented example (commas repaired), plus a key it might add one day.
NESTED = {
    "totals": {"events": 3, "call_events": 3, "form_events": 0, "chat_events": 0, "booking_events": 0, "lsa_events": 0},
    "unread": {"events": 2, "call_events": 2, "form_events": 0, "chat_events": 0, "booking_events": 0, "lsa_events": 0},
    "channel": {"display": 2, "search": 0, "social": 0, "chat": 0, "other": 0, "none": 1},
    "sms": {"events": 9},
}
FLAT = {"events": 5, "call_events": 3, "form_events": 2, "chat_events": 0, "booking_events": 0, "undocumented": "x"}


def check(**filters: object) -> TotalsCheck:
    return totals_check(ContactInteractionFilters.from_values(global_master_advertiser_id="USA_1", **filters))


def test_unfiltered_pulls_compare_totals_events_in_either_shape() -> None:
    unfiltered = check()
    assert unfiltered.label == "totals.events"
    assert unfiltered.count(NESTED, "totals") == 3 and unfiltered.count(FLAT, "totals") == 5


def test_counted_types_compare_their_own_counts() -> None:
    calls_and_forms = check(event_types=["call", "form"])
    assert calls_and_forms.label == "call_events+form_events"
    assert calls_and_forms.count(NESTED, "totals") == 3 and calls_and_forms.count(FLAT, "totals") == 5
    with pytest.raises(TotalsUnavailable, match="'lsa_events'"):
        check(event_types=["lsa"]).count(FLAT, "totals")  # the flat body does not say: not checkable


def test_channels_compare_the_nested_channel_counts() -> None:
    display = check(channels=["display", "none"])
    assert display.count(NESTED, "totals") == 3
    with pytest.raises(TotalsUnavailable, match="flat shape"):
        display.count(FLAT, "totals")


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"event_types": ["fpd"]}, "no count for event type(s) fpd"),
        ({"event_types": ["call", "chat_sales"]}, "no count for event type(s) chat_sales"),
        ({"phone_numbers": ["+13184227453"]}, "no count per phone number"),
        ({"event_types": ["call"], "channels": ["search"]}, "types and channels separately"),
    ],
)
def test_what_totals_cannot_speak_for_is_not_checkable(filters: dict[str, list[str]], reason: str) -> None:
    uncheckable = check(**filters)
    assert not uncheckable.checkable and reason in uncheckable.reason


def test_fpd_events_may_or_may_not_be_in_totals_events() -> None:
    unfiltered = check()
    assert unfiltered.agrees(10, 10, fpd=2) and unfiltered.agrees(8, 10, fpd=2)  # either reading
    assert not unfiltered.agrees(9, 10, fpd=2) and not unfiltered.agrees(8, 10, fpd=0)
    assert not check(event_types=["call"]).agrees(8, 10, fpd=2)  # per-type counts have no such doubt


@pytest.mark.parametrize(
    "body",
    [[1, 2], {"totals": {"call_events": 3}}, {"calls": 3}, {"totals": {"events": "3"}}, {"events": -1}, {"events": True}],
)
def test_bodies_without_a_usable_events_count_fail_clearly(body: object) -> None:
    with pytest.raises(LipsResponseError, match="totals"):
        check().count(body, "GET /contact_interactions/totals")


def test_record_spellings() -> None:
    assert [plain_event_type(t) for t in ("CallEvent", "FpdEvent", "ChatSalesEvent", "call", "chat_sales", "Event")] == [
        "call", "fpd", "chat_sales", "call", "chat_sales", "Event",
    ]
    assert event_type({"event_type": "LsaEvent"}) == "lsa" and event_type({}) is None
    assert occurred_at({"occured_at": "2023-01-04T15:31:11-08:00"}) == "2023-01-04T15:31:11-08:00"
    assert occurred_at({"occurred_at": "a", "occured_at": "b"}) == "a" and occurred_at({"occurred_at": ""}) is None
