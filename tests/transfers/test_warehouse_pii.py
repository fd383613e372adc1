"""Loads of pseudonymised files: typed columns hold hashes or NULL, and files hashed with different keys do not mix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pii import parse_policy
from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.warehouse import load_contact_interactions
from tests.support import Interaction, Jsonl, Warehouse

KEY_A = b"warehouse-test-key-AAAAAAAAAAAA"
KEY_B = b"warehouse-test-key-BBBBBBBBBBBB"
PLAINTEXT = ("ELIGIO", "s.eligio@example.com", "+13184227453", "Eligio Dental", "https://example.invalid/r.mp3")


def manifest(jsonl: Jsonl, name: str, records: list[dict[str, Any]], preset: str | None, key: bytes | None) -> dict[str, Any]:
    """Write ``records`` as the pull would with ``pii=preset`` and return its manifest."""
    policy = parse_policy(preset)
    redactor = policy.compile(key) if policy else None
    lines = redactor.apply_all(records) if redactor else records
    path = jsonl(name, lines)
    return {"uri": path.as_uri(), "records": len(lines), "pii": redactor.describe() if redactor else None}


def sample(interaction: Interaction, *ids: int) -> list[dict[str, Any]]:
    return [
        interaction(
            i,
            contact={"email": "s.eligio@example.com", "company": "Eligio Dental", "title": "Owner"},
            page_url="https://www.example-dental.com/",
        )
        for i in ids
    ]


def test_typed_columns_hold_hashes_or_null_and_raw_holds_the_policy_output(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    load_contact_interactions(manifest(jsonl, "p.jsonl", sample(interaction, 1, 2), "pseudonymize", KEY_A), CONN_ID)
    display_name, page_url, details, raw = warehouse.rows(
        "SELECT display_name, page_url, details, raw FROM lips_contact_interactions WHERE id = 1"
    )[0]
    assert display_name.startswith("pii1:") and page_url is None
    assert warehouse.json(details) == {"duration": 184, "caller_number": warehouse.json(raw)["call"]["caller_number"]}
    first, last, email, company, title, phones = warehouse.rows(
        "SELECT first_name, last_name, email, company, title, phone_numbers FROM lips_contacts"
    )[0]
    assert all(value.startswith("pii1:") for value in (first, last, email)) and company is None and title is None
    assert warehouse.json(phones)[0]["phone_number"].startswith("pii1:")
    rows = warehouse.rows("SELECT * FROM lips_contact_interactions") + warehouse.rows("SELECT * FROM lips_contacts")
    stored = json.dumps(rows, default=str)
    assert not [value for value in PLAINTEXT if value in stored]


def test_a_file_hashed_with_another_key_is_refused_before_anything_is_written(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    first = manifest(jsonl, "a.jsonl", sample(interaction, 1), "pseudonymize", KEY_A)
    load_contact_interactions(first, CONN_ID)
    load_contact_interactions(first, CONN_ID)  # the same key again: fine
    before = warehouse.snapshot()
    other = manifest(jsonl, "b.jsonl", sample(interaction, 1, 2), "pseudonymize", KEY_B)

    with pytest.raises(LipsValidationError) as error:
        load_contact_interactions(other, CONN_ID)

    assert str(error.value) == (
        f"{other['uri']} was made with PII key {other['pii']['key_fingerprint']}, but lips_contact_interactions "
        f"already holds rows made with key {first['pii']['key_fingerprint']} (first from {first['uri']}); hashes "
        "from different keys never match, so joins across them would silently fail. Load it into other tables "
        "(interactions_table=..., contacts_table=...), pull again with the tables' key, or pass "
        "allow_mixed_pii_keys=True to mix them knowingly."
    )
    assert warehouse.snapshot() == before
    load_contact_interactions(other, CONN_ID, allow_mixed_pii_keys=True)
    assert warehouse.rows("SELECT id FROM lips_contact_interactions ORDER BY id") == [(1,), (2,)]
    assert warehouse.rows("SELECT table_name, key_fingerprint FROM lips_pii_keys ORDER BY 1, 2") == sorted(
        (table, m["pii"]["key_fingerprint"]) for table in ("lips_contact_interactions", "lips_contacts") for m in (first, other)
    )


@pytest.mark.parametrize("order", ["plaintext first", "hashed first"])
def test_plaintext_and_hashed_files_do_not_mix(warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl, order: str) -> None:
    plain = manifest(jsonl, "plain.jsonl", sample(interaction, 1), None, None)
    hashed = manifest(jsonl, "hashed.jsonl", sample(interaction, 2), "pseudonymize", KEY_A)
    first, second = (plain, hashed) if order == "plaintext first" else (hashed, plain)
    load_contact_interactions(first, CONN_ID)
    with pytest.raises(LipsValidationError, match=r"made with key none \(no PII policy\)|was made with PII key none"):
        load_contact_interactions(second, CONN_ID)


def test_files_that_hold_no_hash_and_bare_uris_load_beside_any_key(
    warehouse: Warehouse, interaction: Interaction, jsonl: Jsonl
) -> None:
    load_contact_interactions(manifest(jsonl, "a.jsonl", sample(interaction, 1), "pseudonymize", KEY_A), CONN_ID)
    dropped = manifest(jsonl, "d.jsonl", sample(interaction, 2), "drop", None)
    load_contact_interactions(dropped, CONN_ID)
    load_contact_interactions(Path(dropped["uri"][len("file://"):]).as_uri(), CONN_ID)
    assert warehouse.rows("SELECT id, display_name FROM lips_contact_interactions WHERE id = 2") == [(2, None)]


def test_allow_mixed_pii_keys_must_be_a_boolean(interaction: Interaction, jsonl: Jsonl) -> None:
    with pytest.raises(LipsValidationError, match="allow_mixed_pii_keys must be True or False, got 'false'"):
        load_contact_interactions(jsonl("x.jsonl", sample(interaction, 1)).as_uri(), CONN_ID, allow_mixed_pii_keys="false")  # type: ignore[arg-type]
