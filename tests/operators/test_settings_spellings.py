"""Flags and numbers as a form, a URI query or a template deliver them (text), through the operator.

The decisive case: ``allow_insecure_http: "false"`` (``bool("false")`` is true) must refuse plain
http to a host that is not loopback before any connection. The sandbox listens on this machine's
non-loopback address, so a request that did go out would reach it and show in its log.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from lips_sandbox import LipsSandbox
from tests.support import API_KEY, DAY, TOKEN, expected_ids, lips_connection, pull, run


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # TEST-NET-2: routing only
        except OSError:
            return None
        address = ipaddress.ip_address(probe.getsockname()[0])
    return None if address.is_loopback or address.is_unspecified else str(address)


@pytest.fixture
def remote(interactions: list[dict]) -> Iterator[LipsSandbox]:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to serve plain http on")
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY, host=address) as server:
        yield server


@pytest.mark.parametrize("word", ["false", "no", "0", "off"])
def test_false_as_text_refuses_plain_http_to_a_remote_host_before_any_connection(
    word: str, remote: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(remote.url, allow_insecure_http=word))
    with pytest.raises(LipsValidationError, match=r"uses plain http to [\d.]+, which would send the API token unencrypted"):
        run(pull(destination=str(tmp_path / "out.jsonl")))
    assert remote.requests == [], "a request went out over plain http"
    assert list(tmp_path.iterdir()) == []


def test_true_as_text_permits_it(remote: LipsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The contrast: the same connection with "true" pulls, so the refusal above is the flag's doing."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(remote.url, allow_insecure_http="true", requests_per_second="500")
    )
    target = tmp_path / "out.jsonl"
    manifest = run(pull(destination=str(target)))
    ids = {json.loads(line)["id"] for line in target.read_text().splitlines()}
    assert ids == expected_ids(remote.interactions, DAY, DAY.replace(day=DAY.day + 1), global_master_advertiser_id="USA_1")
    assert manifest["complete"] is True


def test_operator_arguments_as_text_are_read(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    operator = pull(destination=str(tmp_path / "out.jsonl"), per_page="25", concurrency="2", include_archived="yes")
    assert (operator.per_page, operator.concurrency, operator.include_archived) == (25, 2, True)
    manifest = run(operator)
    assert manifest["include_archived"] is True and manifest["complete"] is True
    assert {entry["params"]["per_page"][0] for entry in lips_conn.requests if entry["path"] == "/contact_interactions"} == {"25"}


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("include_archived", "maybe", "include_archived must be true or false"),
        ("per_page", "many", "per_page must be an integer from 1 to 1000"),
        ("concurrency", "2.5", "concurrency must be a positive integer"),
        ("max_bytes_in_flight", "64MB", "max_bytes_in_flight must be a positive number of bytes"),
        ("xcom_max_records", "lots", "xcom_max_records must be a non-negative integer"),
    ],
)
def test_an_argument_it_cannot_read_is_refused_naming_it(argument: str, value: Any, message: str) -> None:
    with pytest.raises(LipsValidationError, match=message):
        pull(**{argument: value})
