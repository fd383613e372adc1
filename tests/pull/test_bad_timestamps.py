"""Records whose timestamps do not parse: an unreadable occurred_at fails the pull naming the record's id and
the field (nothing written); an unreadable or non-string created_at, which only feeds the lateness statistics,
is left out of them and the record is kept as sent. Never a bare ValueError or AttributeError."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_lips.exceptions import LipsResponseError
from lips_sandbox import LipsSandbox
from tests.support import DAY, expected_ids, pull, run


def day_ids(server: LipsSandbox) -> list[int]:
    return sorted(expected_ids(server.interactions, DAY, DAY + timedelta(days=1), global_master_advertiser_id="USA_1"))


@pytest.mark.parametrize("spelling", ["occurred_at", "occured_at"])
def test_an_unreadable_occurred_at_fails_naming_the_record_and_field(
    spelling: str, lips_conn: LipsSandbox, tmp_path: Path
) -> None:
    bad = day_ids(lips_conn)[3]
    lips_conn.configure(bad_occurred_at_ids=[bad], occurred_field=spelling)
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl")))
    message = str(raised.value)
    assert message.startswith("query 1/1 (global_master_advertiser_id=USA_1&start_date=")
    assert f"record id {bad} has {spelling} = '2026-13-45T25:61:00.000Z', not an ISO-8601 timestamp" in message
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_under_a_pii_policy_the_value_is_not_quoted(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    bad = day_ids(lips_conn)[0]
    lips_conn.configure(bad_occurred_at_ids=[bad])
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), pii="drop"))
    assert f"record id {bad} has occurred_at = (a str, withheld by the PII policy)" in str(raised.value)
    assert "2026-13-45" not in str(raised.value)


def test_an_unreadable_created_at_is_left_out_of_the_lateness_and_the_record_kept(
    lips_conn: LipsSandbox, tmp_path: Path
) -> None:
    ids = day_ids(lips_conn)
    text, number = ids[1], ids[2]
    lips_conn.configure(bad_created_at_ids=[text], numeric_created_at_ids=[number])
    target = tmp_path / "out.jsonl"
    manifest = run(pull(destination=str(target)))
    written = {record["id"]: record for record in map(json.loads, target.read_text().splitlines())}
    assert sorted(written) == ids and manifest["complete"] is True
    assert written[text]["created_at"] == "not a timestamp" and written[number]["created_at"] == 1764547200
    assert manifest["lateness_seconds"] is not None and manifest["lateness_seconds"]["max"] > 0
