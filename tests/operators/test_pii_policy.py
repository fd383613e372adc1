"""The operator with a PII policy, against the sandbox: what leaves the task is the policy's output, and nothing else."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsResponseError, LipsValidationError
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.pii import key_fingerprint, parse_policy
from lips_sandbox import LipsSandbox
from tests.support import DAY, context, data_requests, expected_ids, plaintext_pii

KEY = "pii-key-OPERATORTEST-6d0e4f1a2b3c"
OTHER_KEY = "pii-key-OTHERTEST-9a8b7c6d5e4f"


@pytest.fixture
def pii_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_PII_KEY", json.dumps({"conn_type": "generic", "password": KEY}))
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_PII_KEY", json.dumps({"conn_type": "generic", "password": OTHER_KEY}))
    return KEY


def run(start: datetime = DAY, days: int = 1, **kwargs: Any) -> Any:
    kwargs.setdefault("global_master_advertiser_id", "USA_1")
    operator = LipsContactInteractionsOperator(task_id="pull", **kwargs)
    return operator.execute(context(start, start + timedelta(days=days)))


def truth(interactions: list[dict], gmaid: str = "USA_1", start: datetime = DAY, days: int = 1) -> list[dict]:
    ids = expected_ids(interactions, start, start + timedelta(days=days), global_master_advertiser_id=gmaid)
    return [r for r in interactions if r["id"] in ids]


def test_xcom_holds_the_policys_output_of_every_interaction(lips_conn: LipsSandbox, interactions: list[dict], pii_key: str) -> None:
    records = run(pii="pseudonymize")
    expected = truth(interactions)
    redactor = parse_policy("pseudonymize").compile(pii_key.encode())  # type: ignore[union-attr]
    assert sorted(records, key=lambda r: r["id"]) == sorted(redactor.apply_all(copy.deepcopy(expected)), key=lambda r: r["id"])
    text = json.dumps(records)
    secrets = plaintext_pii(expected)
    assert len(secrets) > 50 and not [value for value in secrets if value in text]
    assert pii_key not in text and "pii1:" in text


def test_the_file_and_manifest_hold_no_plaintext_and_name_the_policy_and_key(
    lips_conn: LipsSandbox, interactions: list[dict], pii_key: str, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    manifest = run(pii={"contact.email": "hash", "*": "drop", "contact.id": "keep"}, destination=target.as_uri())
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["id"] for r in lines} == {r["id"] for r in truth(interactions)}
    assert all(set(r) == {"id", "occurred_at", "contact"} and set(r["contact"]) <= {"id", "email"} for r in lines)
    assert manifest["pii"] == {
        "policy": {"contact.email": "hash", "*": "drop", "contact.id": "keep"},
        "hash_format": "pii1",
        "key_fingerprint": key_fingerprint(pii_key.encode()),
    }
    everything = target.read_text() + json.dumps(manifest)
    assert not [value for value in plaintext_pii(truth(interactions)) if value in everything]
    assert pii_key not in everything


def test_without_a_policy_the_manifest_says_so_and_records_are_as_sent(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    manifest = run(destination=(tmp_path / "out.jsonl").as_uri())
    assert manifest["pii"] is None


def test_the_same_person_hashes_alike_across_days_advertisers_and_phone_formats(
    lips_conn: LipsSandbox, interactions: list[dict], pii_key: str
) -> None:
    """One person reaches two advertisers on two days; LIPS gives them two contact ids and two spellings."""
    base = next(r for r in interactions if r["global_master_advertiser_id"] == "USA_1")
    other = next(r for r in interactions if r["global_master_advertiser_id"] == "USA_2")
    person = {"first_name": "Ana", "last_name": "Quintero", "email": "ana.quintero@example.org"}
    first_id = max(r["id"] for r in interactions) + 1
    sightings = [
        (base, DAY, ("+13185550142", " Ana.Quintero@Example.org ")),
        (other, DAY + timedelta(days=1), ("(318) 555-0142 x27", "ANA.QUINTERO@example.org")),
    ]
    for offset, (template, when, spelling) in enumerate(sightings):
        record = copy.deepcopy(template)
        record.update(id=first_id + offset, occurred_at=when.isoformat().replace("+00:00", ".000Z"),
                      created_at=(when + timedelta(minutes=5)).isoformat().replace("+00:00", ".000Z"), display_name="Ana Quintero")
        record["contact"].update(person, id=9_000_000 + offset, email=spelling[1],
                                 phone_numbers=[{"phone_type": "mobile", "phone_number": spelling[0]}])
        record["contact_id"] = record["contact"]["id"]
        lips_conn.insert(record)

    def hashes(gmaid: str, day: datetime, **kwargs: Any) -> tuple[Any, ...]:
        (record,) = [r for r in run(day, global_master_advertiser_id=gmaid, pii="pseudonymize", **kwargs) if r["id"] >= first_id]
        contact = record["contact"]
        phone = contact["phone_numbers"][0]["phone_number"]
        return contact["first_name"], contact["last_name"], contact["email"], phone, record["display_name"]

    day_one, day_two = hashes("USA_1", DAY), hashes("USA_2", DAY + timedelta(days=1))
    assert day_one == day_two and all(value.startswith("pii1:") for value in day_one)
    other_key = hashes("USA_1", DAY, pii_key_conn_id="other_pii_key")
    assert not set(other_key) & set(day_one)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"pii": "pseudonymise"}, "pii='pseudonymise' is not a preset"),
        ({"pii": {"contact.email": "encrypt"}}, "unknown action 'encrypt'"),
        ({"pii": {"contact..email": "hash"}}, "malformed field path 'contact..email'"),
        ({"pii": {"id": "drop"}}, "the pull needs 'id'"),
        ({"pii": "pseudonymize", "pii_key_conn_id": "no_such_key"}, "connection 'no_such_key' could not be read"),
        ({"pii": "pseudonymize", "pii_key_conn_id": "short_key"}, "shorter than 16 characters"),
        ({"pii": "pseudonymize", "pii_key_conn_id": ""}, "pii_key_conn_id must name an Airflow connection"),
    ],
)
def test_bad_policy_input_fails_before_any_request(
    lips_conn: LipsSandbox, pii_key: str, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], message: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SHORT_KEY", json.dumps({"conn_type": "generic", "password": "abc"}))
    lips_conn.reset_log()
    with pytest.raises(LipsValidationError) as error:
        run(**arguments)
    assert message in str(error.value)
    assert data_requests(lips_conn) == []


def test_a_templated_policy_is_checked_after_rendering_and_before_any_request(lips_conn: LipsSandbox, pii_key: str) -> None:
    operator = LipsContactInteractionsOperator(task_id="pull", global_master_advertiser_id="USA_1", pii="{{ params.pii | tojson }}")
    operator.pii = '{"contact.email": "hash", "contact.phone_numbers[0]": "hash"}'  # what rendering gave
    lips_conn.reset_log()
    with pytest.raises(LipsValidationError, match=r"malformed field path 'contact.phone_numbers\[0\]'"):
        operator.execute(context(DAY, DAY + timedelta(days=1)))
    assert data_requests(lips_conn) == []


@pytest.mark.parametrize("fault", ["malformed_pages", "missing_key_pages"])
def test_errors_about_bad_pages_quote_no_record_while_a_policy_is_on(
    lips_conn: LipsSandbox, interactions: list[dict], pii_key: str, fault: str
) -> None:
    lips_conn.configure(**{fault: [1]})
    with pytest.raises(LipsResponseError) as error:
        run(pii="pseudonymize", completeness="off")
    assert "withheld: a PII policy is on" in str(error.value)
    assert not [value for value in plaintext_pii(truth(interactions)) if value in str(error.value)]


def test_a_record_without_an_id_is_quoted_only_as_the_policy_leaves_it(pii_key: str) -> None:
    from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
    from airflow_provider_lips.client.query import ContactInteractionFilters
    from airflow_provider_lips.pull.engine import Pull
    from airflow_provider_lips.pull.window import TimeWindow

    redactor = parse_policy("pseudonymize").compile(pii_key.encode())  # type: ignore[union-attr]
    pull = Pull(None, CONTACT_INTERACTIONS, ContactInteractionFilters.from_values(global_master_advertiser_id="USA_1"),  # type: ignore[arg-type]
                TimeWindow.from_values("2026-11-20", "2026-11-21"), redactor=redactor)
    excerpt = pull._excerpt({"display_name": "Ana Quintero", "contact": {"email": "ana@example.org"}, "notes": "call her"})
    assert "Ana" not in excerpt and "ana@example.org" not in excerpt and "call her" not in excerpt and "pii1:" in excerpt
    assert pull._excerpt("Ana Quintero, +13185550142") == "<a str, withheld by the PII policy>"


def test_a_contacts_pull_applies_the_presets_contact_rules_to_each_contact(lips_conn: LipsSandbox, pii_key: str) -> None:
    from airflow_provider_lips.client.endpoints import CONTACTS
    from airflow_provider_lips.operators.contacts import LipsContactsOperator

    window = (datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc))
    operator = LipsContactsOperator(task_id="contacts", global_master_advertiser_id="USA_1", pii="pseudonymize")
    records = operator.execute(context(window[0], window[1]))
    plain = lips_conn.contacts_truth(global_master_advertiser_id="USA_1", start_date="2026-09-01T00:00:00.000Z",
                                     end_date="2026-09-30T23:59:59.999Z")
    redactor = parse_policy("pseudonymize", CONTACTS).compile(pii_key.encode())  # type: ignore[union-attr]
    assert records == redactor.apply_all(plain) and len(records) > 10
    assert all(r["email"] is None or r["email"].startswith("pii1:") for r in records)
    assert all("company" not in r and r["first_name"].startswith("pii1:") for r in records)
