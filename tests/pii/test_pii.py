"""The PII policy on its own: presets field by field, paths, normalisation, the hash format, validation, the key."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pii import PRESETS, key_fingerprint, normalize, parse_policy, read_key
from tests.support import sample_interaction

KEY = b"unit-test-key-0123456789abcdef"
OTHER_KEY = b"another-unit-test-key-9876543210"
HASH = re.compile(r"pii1:[0-9a-f]{64}")

# The sample interaction with every kind of detail object, more contact fields and some unknown fields.
RECORD: dict[str, Any] = sample_interaction(
    contact={
        "email": "S.Eligio@Example.com",
        "company": "Eligio Family Dental",
        "title": "Owner",
        "phone_work": "(318) 422-7453",
        "date_of_birth": "1970-01-01",
    },
    refer_type="PAID",
    page_url="https://www.example-dental.com/contact?email=s.eligio@example.com",
    notes="called back about her prescription",
    tags=["Mesothelioma"],
    lead_score=17,
    sms={"message": "text me at 318 422 7453"},
    call={
        "duration": 184,
        "caller_number": "+13184227453",
        "dialed_number": "+18005550100",
        "recording_url": "https://recordings.example/r.mp3",
        "transcription": "my name is S Eligio",
    },
    chat={
        "provider": "apex",
        "summary": "asked about a root canal",
        "transcript": [
            {"id": 1, "timestamp": "2021-09-06T16:16:08Z", "from": "S Eligio", "message": "Hi, I am S Eligio"},
            {"id": 2, "timestamp": "2021-09-06T16:16:20Z", "from": "Agent Kim", "message": "How can I help?"},
        ],
    },
    form={"sub_type": "FormPost", "full_message": "Message:\nhelp", "message": "help", "extra_fields": {"dob": "1970-01-01"}},
)


def mac(value: str, key: bytes = KEY) -> str:
    """The documented format, computed independently: pii1: + hex HMAC-SHA256 of the normalised value."""
    return "pii1:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# RECORD's contact under the pseudonymize preset: identifiers hashed, company and title dropped, ids and sources kept.
PSEUDONYMIZED_CONTACT = {
    "id": 2197617,
    "first_name": mac("s"),
    "last_name": mac("eligio"),
    "email": mac("s.eligio@example.com"),
    "phone_work": mac("+13184227453"),
    "phone_numbers": [{"phone_type": "work", "phone_number": mac("+13184227453")}],
    "created_at": "2021-09-04T01:21:27.394Z",
    "contact_external_source": "a6426573-5120-4077-9d71-ac5e7f65bccd",
    "interaction_external_source": "capture",
}


def pseudonymize(record: dict[str, Any], key: bytes = KEY) -> dict[str, Any]:
    policy = parse_policy("pseudonymize")
    assert policy is not None
    return policy.compile(key).apply(copy.deepcopy(record))


def test_pseudonymize_hashes_identifiers_drops_free_text_and_keeps_what_joins_and_counts_need() -> None:
    out = pseudonymize(RECORD)
    assert out == {
        "id": 4314774,
        "contact_id": 2197617,
        "global_master_advertiser_id": "USA_1",
        "global_master_campaign_id": "USA_3115232",
        "campaign_name": "LSS Test Campaign",
        "channel": "search",
        "refer_type": "PAID",
        "refer_source": "PAID",
        "influencing_campaign": "",
        "created_at": "2021-09-06T16:18:42.505Z",
        "occurred_at": "2021-09-06T16:16:08.000Z",
        "display_name": mac("s eligio"),
        "event_type": "call",
        "sub_type": None,
        "external_source": "capture",
        "archived_at": None,
        "call": {"duration": 184, "caller_number": mac("+13184227453"), "dialed_number": mac("+18005550100")},
        "chat": {
            "provider": "apex",
            "transcript": [
                {"id": 1, "timestamp": "2021-09-06T16:16:08Z", "from": mac("s eligio")},
                {"id": 2, "timestamp": "2021-09-06T16:16:20Z", "from": mac("agent kim")},
            ],
        },
        "form": {"sub_type": "FormPost"},
        "contact": PSEUDONYMIZED_CONTACT,
    }
    assert list(out) == [k for k in RECORD if k in out]  # the API's key order survives


def test_the_drop_preset_is_pseudonymize_with_identifiers_dropped_and_needs_no_key() -> None:
    assert PRESETS["drop"] == {path: "drop" if action == "hash" else action for path, action in PRESETS["pseudonymize"].items()}
    policy = parse_policy("drop")
    assert policy is not None and not policy.hashes
    out = policy.compile(None).apply(copy.deepcopy(RECORD))
    assert "pii1:" not in json.dumps(out)
    assert "display_name" not in out and set(out["contact"]) == {
        "id", "phone_numbers", "created_at", "contact_external_source", "interaction_external_source"
    }
    assert out["contact"]["phone_numbers"] == [{"phone_type": "work"}]
    assert out["call"] == {"duration": 184}


def test_the_input_record_is_left_untouched() -> None:
    record = copy.deepcopy(RECORD)
    parse_policy("pseudonymize").compile(KEY).apply(record)  # type: ignore[union-attr]
    assert record == RECORD


@pytest.mark.parametrize(
    "spellings",
    [
        ["+13184227453", "+1 318 422 7453", "(318) 422-7453", "318.422.7453", "3184227453", "13184227453",
         "+1 (318) 422-7453 x241", "+13184227453 x241", "318-422-7453 ext. 9", "+13184227453 #12", " +13184227453 "],
        ["S.Eligio@Example.com", " s.eligio@example.com", "S.ELIGIO@EXAMPLE.COM "],
        ["José García", "  JOSÉ   GARCÍA ", "josé garcía"],
        ["0044 20 7946 0958", "+44 20 7946 0958"],
    ],
)
def test_values_differing_only_in_formatting_case_or_extension_hash_the_same(spellings: list[str]) -> None:
    redactor = parse_policy("pseudonymize").compile(KEY)  # type: ignore[union-attr]
    assert len({redactor.hash(value) for value in spellings}) == 1
    assert redactor.hash(spellings[0]) == mac(normalize(spellings[0]))


def test_normalised_forms_are_the_documented_ones() -> None:
    assert normalize("+1 (989) 364-3647 x241") == "+19893643647"
    assert normalize("9893643647") == "+19893643647"  # ten digits: North American
    assert normalize(" Jane.DOE@Example.COM ") == "jane.doe@example.com"
    assert normalize("  Straße  Müller ") == "strasse müller"  # case-folded
    assert normalize("+1 98 36") == "+1 98 36"  # too few digits for a phone number: normalised as text


def test_the_hash_is_keyed_and_deterministic() -> None:
    one, again, other = (parse_policy("pseudonymize").compile(k) for k in (KEY, KEY, OTHER_KEY))  # type: ignore[union-attr]
    assert one.hash("+13184227453") == again.hash("+13184227453") == mac("+13184227453")
    assert HASH.fullmatch(one.hash("+13184227453"))
    assert other.hash("+13184227453") != one.hash("+13184227453")
    assert one.hash("+13184227453") != hashlib.sha256(b"+13184227453").hexdigest()  # not an unkeyed digest
    assert one.hash(None) is None
    assert one.hash(13184227453) == mac("+13184227453")  # numbers by their JSON spelling
    assert one.hash(["a", "B"]) == [mac("a"), mac("b")]
    assert one.hash({"b": 1, "a": "x"}) == mac('{"a":"x","b":1}')


def test_the_key_fingerprint_identifies_a_key_without_revealing_it() -> None:
    redactor = parse_policy("pseudonymize").compile(KEY)  # type: ignore[union-attr]
    assert redactor.key_fingerprint == key_fingerprint(KEY) != key_fingerprint(OTHER_KEY)
    assert re.fullmatch(r"kf1:[0-9a-f]{16}", redactor.key_fingerprint or "")
    described = json.dumps(redactor.describe()) + repr(redactor)
    assert KEY.decode() not in described
    assert redactor.describe() == {"policy": "pseudonymize", "hash_format": "pii1", "key_fingerprint": key_fingerprint(KEY)}
    assert parse_policy("drop").compile(None).describe() == {  # type: ignore[union-attr]
        "policy": "drop", "hash_format": None, "key_fingerprint": None
    }


def test_a_mapping_changes_only_what_it_names_and_walks_nested_lists() -> None:
    policy = parse_policy(
        {
            "contact.email": "hash",
            "contact.phone_numbers[].phone_number": "hash",
            "chat.transcript[].message": "drop",
            "tags[]": "hash",
            "page_url": "drop",
        }
    )
    assert policy is not None
    out = policy.compile(KEY).apply(copy.deepcopy(RECORD))
    assert out["contact"]["email"] == mac("s.eligio@example.com")
    assert out["contact"]["phone_numbers"] == [{"phone_type": "work", "phone_number": mac("+13184227453")}]
    assert out["contact"]["first_name"] == "S" and out["notes"] == RECORD["notes"]
    assert [line.get("message") for line in out["chat"]["transcript"]] == [None, None]
    assert out["chat"]["transcript"][0]["from"] == "S Eligio"
    assert out["tags"] == [mac("mesothelioma")]
    assert "page_url" not in out


def test_a_wildcard_is_inherited_by_deeper_levels_and_never_removes_id_or_occurred_at() -> None:
    out = parse_policy({"*": "drop", "contact.email": "hash", "contact.id": "keep", "call.*": "keep"}).compile(KEY).apply(  # type: ignore[union-attr]
        copy.deepcopy(RECORD)
    )
    assert out == {
        "id": 4314774,
        "occurred_at": "2021-09-06T16:16:08.000Z",
        "call": RECORD["call"],
        "contact": {"id": 2197617, "email": mac("s.eligio@example.com")},
    }


def test_list_element_actions_and_shapes_the_policy_did_not_expect() -> None:
    policy = parse_policy({"tags[]": "drop", "contact.phone_numbers[].phone_number": "hash", "chat.transcript.from": "hash"})
    record = {"id": 1, "occurred_at": "2021-09-06T16:16:08Z", "tags": ["a"], "contact": {"phone_numbers": "+13184227453"},
              "chat": {"transcript": [{"from": "Kim"}, "loose line"]}}
    out = policy.compile(KEY).apply(record)  # type: ignore[union-attr]
    assert out["tags"] == []
    assert out["contact"] == {"phone_numbers": "+13184227453"}  # default keep: an unexpected scalar stays as sent
    assert out["chat"]["transcript"] == [{"from": mac("kim")}, "loose line"]  # 'a.b' walks a list like 'a[].b'
    strict = parse_policy({"*": "drop", "contact.phone_numbers[].phone_number": "hash"}).compile(KEY).apply(record)  # type: ignore[union-attr]
    assert strict == {"id": 1, "occurred_at": "2021-09-06T16:16:08Z", "contact": {}}


def test_json_text_is_accepted_as_dag_params_render_it() -> None:
    assert parse_policy('"pseudonymize"') == parse_policy("pseudonymize")
    assert parse_policy("null") is None and parse_policy(None) is None and parse_policy("") is None
    mapping = parse_policy('{"contact.email": "hash"}')
    assert mapping is not None and mapping.spec == {"contact.email": "hash"} and mapping.hashes
    # A mapping typed into the Trigger form's text field is a string param, which tojson encodes once more.
    assert parse_policy(json.dumps('{"contact.email": "hash"}')) == mapping
    assert parse_policy(json.dumps(" pseudonymize ")) == parse_policy("pseudonymize")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pseudonymise", "pii='pseudonymise' is not a preset; use one of ['drop', 'pseudonymize']"),
        ("None", "render DAG params with '{{ params.pii | tojson }}'"),
        (42, "pii must be None, a preset name (drop, pseudonymize) or a non-empty mapping"),
        ({}, "pii must be None, a preset name"),
        ("{not json", "is not valid JSON"),
        ({"contact.email": "mask"}, "pii['contact.email']: unknown action 'mask'; use 'keep', 'drop' or 'hash'"),
        ({"contact..email": "hash"}, "malformed field path 'contact..email' at ''"),
        ({"contact.email ": "hash"}, "malformed field path 'contact.email '"),
        ({"contact.phone_numbers[0].phone_number": "hash"}, "malformed field path"),
        ({".email": "hash"}, "malformed field path"),
        ({"*.email": "hash"}, "'*' stands for every other field of its level and must end the path"),
        ({"*": "hash"}, "a wildcard cannot hash"),
        ({"contact": "drop", "contact.email": "hash"}, "contradicts another path for 'contact'"),
        ({"contact.email": "hash", "contact": "drop"}, "contradicts another path for 'contact'"),
        ({"tags[]": "hash", "tags[].x": "drop"}, "contradicts another path for 'tags'"),
        ({"id": "hash"}, "the pull needs 'id' to dedupe"),
        ({"occurred_at": "drop"}, "the pull needs 'occurred_at'"),
        ({"contact.id": "hash"}, "'contact.id' is an id or timestamp the load reads as such"),
        ({1: "drop"}, "a field path must be a non-empty string"),
    ],
)
def test_bad_policies_name_the_problem_and_the_fix(value: Any, message: str) -> None:
    with pytest.raises(LipsValidationError) as error:
        parse_policy(value)
    assert message in str(error.value)


def test_a_hashing_policy_without_a_key_fails() -> None:
    with pytest.raises(LipsValidationError, match="hashes fields but no key was given; set pii_key_conn_id"):
        parse_policy("pseudonymize").compile(None)  # type: ignore[union-attr]


def test_the_key_is_read_from_the_connection_password_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.log import redact

    secret = "pii-key-UNITTEST-4b1f0c9e77a2"
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_PII_KEY", json.dumps({"conn_type": "generic", "password": secret}))
    assert read_key("lips_pii_key") == secret.encode()
    assert redact(f"key={secret}") == "key=***"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (None, "could not be read"),
        ("", "(its password field) is empty"),
        ("short", "shorter than 16 characters"),
    ],
)
def test_a_missing_or_weak_key_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch, password: str | None, message: str) -> None:
    if password is None:
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_PII_KEY", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_NO_SUCH_PII_KEY", json.dumps({"conn_type": "generic", "password": password}))
    with pytest.raises(LipsValidationError) as error:
        read_key("no_such_pii_key")
    assert message in str(error.value)
    assert "airflow connections add no_such_pii_key --conn-type generic --conn-password" in str(error.value)
    assert "short" not in str(error.value).replace("shorter", "")


def test_contacts_listings_get_the_presets_embedded_contact_rules_one_level_up() -> None:
    from airflow_provider_lips.client.endpoints import Endpoint

    contacts = Endpoint("contacts", "/contacts", "contacts", None, "created_at", frozenset())
    policy = parse_policy("pseudonymize", contacts)
    assert policy is not None
    out = policy.compile(KEY).apply(copy.deepcopy(RECORD["contact"]))
    assert out == PSEUDONYMIZED_CONTACT  # the same rules as for the contact inside an interaction
    with pytest.raises(LipsValidationError, match="the pull needs 'created_at'"):
        parse_policy({"created_at": "drop"}, contacts)
    tags = Endpoint("tags", "/tags", "tags", None, "created_at", frozenset())
    with pytest.raises(LipsValidationError, match=r"is not a preset; use one of \[\]"):
        parse_policy("pseudonymize", tags)


def test_the_pii_page_documents_exactly_the_presets() -> None:
    from tests.support import REPO

    text = (REPO / "docs" / "pii.md").read_text()
    table = text[text.index("<!-- pii-presets:"):].split("\n\n", 1)[0].splitlines()[3:]
    documented: dict[str, tuple[str, str]] = {}
    for row in table:
        fields, pseudonymize, drop = (cell.strip() for cell in row.strip("|").split(" | ")[:3])
        documented.update(dict.fromkeys(re.findall(r"`([^`]+)`", fields), (pseudonymize, drop)))
    assert documented == {path: (action, PRESETS["drop"][path]) for path, action in PRESETS["pseudonymize"].items()}
