"""Filters validated and encoded exactly as the API needs them, without a server."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from airflow_provider_lips.client.query import ContactInteractionFilters, encode_query
from airflow_provider_lips.exceptions import LipsValidationError


def test_bracketed_names_stay_readable_and_values_are_escaped_whole() -> None:
    query = encode_query([("event_type[]", "call"), ("event_params[phone_numbers]", "+13184227453"), ("q", "a b&c=d/é")])
    assert query == "event_type[]=call&event_params[phone_numbers]=%2B13184227453&q=a%20b%26c%3Dd%2F%C3%A9"
    # A server decoding the query gets every value back unchanged, '+' included.
    assert parse_qsl(query) == [("event_type[]", "call"), ("event_params[phone_numbers]", "+13184227453"), ("q", "a b&c=d/é")]


def test_an_empty_query_encodes_to_nothing() -> None:
    assert encode_query([]) == ""


def test_lists_and_comma_strings_are_the_same_filter_without_repeats() -> None:
    from_list = ContactInteractionFilters.from_values(global_master_advertiser_id=["USA_2", "USA_1", "USA_2"])
    from_text = ContactInteractionFilters.from_values(global_master_advertiser_id=" USA_2, USA_1 ")
    assert from_list == from_text
    assert from_list.advertiser_ids == ("USA_2", "USA_1")


def test_each_query_holds_one_advertiser_campaign_and_phone_and_every_array_value() -> None:
    filters = ContactInteractionFilters.from_values(
        global_master_advertiser_id=["USA_1", "USA_2"],
        phone_numbers=["+13184227453", "+13184227454"],
        event_types=["call", "form"],
        channels="search",
    )
    queries = list(filters.queries())
    assert len(queries) == 4
    for query in queries:
        names = [name for name, _ in query]
        assert names.count("global_master_advertiser_id") == 1 and names.count("event_params[phone_numbers]") == 1
        assert [v for n, v in query if n == "event_type[]"] == ["call", "form"]
        assert [v for n, v in query if n == "channel[]"] == ["search"]
    assert {(q[0][1], q[1][1]) for q in queries} == {
        ("USA_1", "+13184227453"), ("USA_1", "+13184227454"), ("USA_2", "+13184227453"), ("USA_2", "+13184227454"),
    }


def test_as_dict_lists_every_filter_for_the_manifest() -> None:
    filters = ContactInteractionFilters.from_values(global_master_campaign_id="USA_3115232", event_types=["chat"])
    assert filters.as_dict() == {
        "global_master_advertiser_id": [],
        "global_master_campaign_id": ["USA_3115232"],
        "phone_numbers": [],
        "event_types": ["chat"],
        "channels": [],
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "Set global_master_advertiser_id (e.g. 'USA_1') or global_master_campaign_id"),
        ({"global_master_advertiser_id": "USA_1&per_page=5000"}, "global_master_advertiser_id value 'USA_1&per_page=5000' is not valid"),
        ({"global_master_advertiser_id": "USA_1", "phone_numbers": "318-422-7453"}, "use an E.164 number"),
        ({"global_master_advertiser_id": "USA_1", "event_types": ["calls"]}, "event_types has unknown value(s) ['calls']"),
        ({"global_master_advertiser_id": "USA_1", "channels": ["tv"]}, "channels has unknown value(s) ['tv']"),
        ({"global_master_advertiser_id": {"USA_1": 1}}, "global_master_advertiser_id must be a string or a list of strings"),
        ({"global_master_advertiser_id": ["USA_1", ""]}, "contains an empty or non-string value ''"),
    ],
)
def test_bad_filters_name_the_parameter_and_the_fix(values: dict[str, object], message: str) -> None:
    with pytest.raises(LipsValidationError) as raised:
        ContactInteractionFilters.from_values(**values)
    assert message in str(raised.value)
