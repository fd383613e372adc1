"""The synthetic data: deterministic, complete, realistic in the ways clients must cope with."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any

import pytest

from lips_sandbox import generate_interactions
from lips_sandbox.data import format_timestamp, parse_timestamp, to_ms
from tests.sandbox.sandbox_support import END, START

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
E164 = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")
DAY_MS = 86_400_000
INTERACTION_FIELDS = {
    "id",
    "contact_id",
    "campaign_name",
    "channel",
    "refer_type",
    "refer_source",
    "influencing_campaign",
    "created_at",
    "occurred_at",
    "display_name",
    "event_type",
    "external_source",
    "global_master_advertiser_id",
    "global_master_campaign_id",
    "sub_type",
    "page_url",
    "archived_at",
    "lead_score",
    "contact",
}
CONTACT_FIELDS = {
    "id",
    "first_name",
    "last_name",
    "email",
    "company",
    "title",
    "phone_numbers",
    "created_at",
    "updated_at",
    "contact_external_source",
    "interaction_external_source",
}


@pytest.fixture(scope="module")
def big() -> list[dict[str, Any]]:
    return generate_interactions(3, 20_000, START, END)


def test_same_seed_same_data_other_seed_other_data(records: list[dict[str, Any]]) -> None:
    assert generate_interactions(seed=11, count=800, start=START, end=END) == records
    assert generate_interactions(seed=12, count=800, start=START, end=END) != records


def test_every_record_has_the_documented_fields_and_an_undocumented_one(records: list[dict[str, Any]]) -> None:
    for record in records:
        assert set(record) == INTERACTION_FIELDS | {record["event_type"]}
        assert set(record["contact"]) == CONTACT_FIELDS
        assert record["contact_id"] == record["contact"]["id"]
        assert record["archived_at"] is None
        assert record["global_master_advertiser_id"] in ("USA_1", "USA_2", "USA_3")
        assert re.fullmatch(r"USA_\d{7}", record["global_master_campaign_id"])
        assert record["channel"] in ("search", "display", "social", "chat", "other", "none")
        assert TIMESTAMP.match(record["created_at"]) and TIMESTAMP.match(record["occurred_at"])
        assert TIMESTAMP.match(record["contact"]["updated_at"])
        for phone in record["contact"]["phone_numbers"]:
            assert set(phone) == {"phone_type", "phone_number"} and E164.match(phone["phone_number"])
    assert len({record["id"] for record in records}) == len(records)
    assert [record["id"] for record in records] == sorted(record["id"] for record in records)
    call = next(record["call"] for record in records if record["event_type"] == "call")
    assert {"duration", "recording_url", "caller_number"} <= set(call)
    assert "fields" in next(record["form"] for record in records if record["event_type"] == "form")
    assert "transcript" in next(record["chat"] for record in records if record["event_type"] == "chat")


def test_event_types_are_mostly_calls_forms_chats_with_a_few_bookings(big: list[dict[str, Any]]) -> None:
    counts = Counter(record["event_type"] for record in big)
    assert set(counts) == {"call", "form", "chat", "booking"}
    assert 0.02 < counts["booking"] / len(big) < 0.09
    assert min(counts["call"], counts["form"], counts["chat"]) > 3 * counts["booking"] / 2


def test_occurred_at_spans_the_window_and_ids_follow_created_at(big: list[dict[str, Any]]) -> None:
    occurred = [parse_timestamp(record["occurred_at"]) for record in big]
    assert to_ms(START) <= min(occurred) and max(occurred) < to_ms(END)
    first_day = sum(ms < to_ms(START) + DAY_MS for ms in occurred)
    assert 0.05 < first_day / len(big) < 0.09  # 1/14 of a uniform spread
    created = [parse_timestamp(record["created_at"]) for record in big]
    assert created == sorted(created)
    assert len({ms % 1000 for ms in occurred}) > 900  # millisecond precision


def test_lateness_is_mostly_minutes_with_a_long_tail_of_days(big: list[dict[str, Any]]) -> None:
    late = [parse_timestamp(r["created_at"]) - parse_timestamp(r["occurred_at"]) for r in big]
    assert min(late) > 0
    days = sum(ms >= DAY_MS for ms in late) / len(late)
    hours = sum(3_600_000 <= ms < DAY_MS for ms in late) / len(late)
    assert 0.04 < days < 0.08
    assert 0.17 < hours < 0.23
    assert max(late) <= 10 * DAY_MS and max(late) > 8 * DAY_MS


def test_lateness_is_parameterizable() -> None:
    punctual = generate_interactions(1, 2000, START, END, late_fraction=0.0, hours_late_fraction=0.0)
    assert max(parse_timestamp(r["created_at"]) - parse_timestamp(r["occurred_at"]) for r in punctual) < 3_600_000
    tardy = generate_interactions(1, 2000, START, END, late_fraction=1.0, max_late_days=2)
    lateness = [parse_timestamp(r["created_at"]) - parse_timestamp(r["occurred_at"]) for r in tardy]
    assert min(lateness) >= DAY_MS and max(lateness) <= 2 * DAY_MS


def test_contacts_recur_and_change_over_time(big: list[dict[str, Any]]) -> None:
    by_contact: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in big:
        by_contact[record["contact_id"]].append(record["contact"])
    assert max(len(seen) for seen in by_contact.values()) >= 5
    assert sum(len(seen) > 1 for seen in by_contact.values()) > len(by_contact) / 2
    changed = [seen for seen in by_contact.values() if len({c["updated_at"] for c in seen}) > 1]
    assert changed
    versions = sorted(changed[0], key=lambda c: c["updated_at"])
    assert versions[0]["created_at"] == versions[-1]["created_at"]
    assert len(versions[-1]["phone_numbers"]) > len(versions[0]["phone_numbers"])
    assert len({c["contact_external_source"] for c in changed[0]}) == len(changed[0])


def test_campaigns_belong_to_one_advertiser(big: list[dict[str, Any]]) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for record in big:
        owners[record["global_master_campaign_id"]].add(record["global_master_advertiser_id"])
    assert len(owners) == 9 and all(len(gmaids) == 1 for gmaids in owners.values())


def test_timestamps_round_trip() -> None:
    moment = datetime(2021, 9, 6, 16, 16, 8, 5000, tzinfo=timezone.utc)
    assert format_timestamp(to_ms(moment)) == "2021-09-06T16:16:08.005Z"
    assert parse_timestamp("2021-09-06T16:16:08.005Z") == to_ms(moment)
    assert parse_timestamp("2021-09-06T18:16:08.005+02:00") == to_ms(moment)


def test_bad_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        generate_interactions(1, 10, END, START)
