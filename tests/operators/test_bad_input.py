"""Every bad input fails with the provider's error class and a message naming the fix, before any request.

One table: operator arguments, hostile identifiers, Jinja templates that render to nonsense,
and connection fields. Each row runs against a live sandbox whose request log must stay
empty: a check that ran only after the first request would leave an entry there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_lips.exceptions import AirflowFailException, LipsValidationError
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from lips_sandbox import LipsSandbox
from tests.support import API_KEY, TOKEN, context, data_requests, lips_connection

START = datetime(2026, 11, 20, tzinfo=timezone.utc)
END = datetime(2026, 11, 21, tzinfo=timezone.utc)
CONTEXT = {"ds": "2026-11-20"}
GOOD = {"global_master_advertiser_id": "USA_1"}


@dataclass(frozen=True)
class Case:
    """One bad input: operator kwargs (merged over GOOD), connection changes, and what it must raise."""

    fragment: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Replaces GOOD instead of merging into it (to leave out the ids).
    bare: bool = False
    # Host for the connection; "{url}" is the sandbox's base URL.
    host: str = "{url}"
    port: int | None = None
    schema: str | None = None
    conn: dict[str, Any] = field(default_factory=dict)
    # Params for Jinja: when set, the operator's template fields are rendered like a task run does.
    params: dict[str, Any] | None = None
    error: type[Exception] = LipsValidationError


# At least 24 rows; the ids name what each row proves.
CASES = {
    # -- operator arguments ------------------------------------------------------------------
    "no-gmaid-nor-gmcid": Case("Set global_master_advertiser_id (e.g. 'USA_1') or global_master_campaign_id", {}, bare=True),
    "empty-gmaid-list": Case("Set global_master_advertiser_id", {"global_master_advertiser_id": []}, bare=True),
    "end-before-start": Case(
        "window_end (2026-11-19T00:00:00+00:00) must be later than window_start (2026-11-20T00:00:00+00:00)",
        {"window_start": "2026-11-20", "window_end": "2026-11-19"},
    ),
    "equal-bounds": Case("must be later than window_start", {"window_start": "2026-11-20T00:00:00Z", "window_end": "2026-11-20"}),
    "unparseable-date": Case(
        "window_start='yesterday' is not an ISO-8601 date or datetime; use e.g. '2026-11-28'",
        {"window_start": "yesterday", "window_end": "2026-11-21"},
    ),
    "impossible-date": Case("window_end='2026-13-45' is not an ISO-8601 date", {"window_start": "2026-11-20", "window_end": "2026-13-45"}),
    "window-as-duration": Case(
        "window_start='P1D' is a duration or time, not a date", {"window_start": "P1D", "window_end": "2026-11-21"}
    ),
    "window-as-number": Case("window_start must be a datetime or an ISO-8601 string, got 20261120", {"window_start": 20261120}),
    "per-page-0": Case("per_page must be an integer from 1 to 1000, got 0", {"per_page": 0}),
    "per-page-negative": Case("per_page must be an integer from 1 to 1000, got -1", {"per_page": -1}),
    "per-page-1001": Case("per_page must be an integer from 1 to 1000, got 1001", {"per_page": 1001}),
    # Text that is a number ("100") is read as one (tests/operators/test_settings_spellings.py); other text is not.
    "per-page-string": Case("per_page must be an integer from 1 to 1000, got 'lots'", {"per_page": "lots"}),
    "per-page-bool": Case("per_page must be an integer from 1 to 1000, got True", {"per_page": True}),
    "completeness-maybe": Case("completeness must be one of ('fail', 'warn', 'off'), got 'maybe'", {"completeness": "maybe"}),
    "concurrency-0": Case("concurrency must be a positive integer or None, got 0", {"concurrency": 0}),
    "xcom-max-negative": Case("xcom_max_records must be a non-negative integer, got -1", {"xcom_max_records": -1}),
    "lookback-negative": Case("lookback=-3600 is negative; use a positive duration such as 'P3D'", {"lookback": -3600}),
    "lookback-a-date": Case("lookback='2026-11-01' is a date, not a duration", {"lookback": "2026-11-01"}),
    "destination-unknown-scheme": Case(
        "destination scheme 'ftpx' is not supported by Airflow object storage", {"destination": "ftpx://bucket/x.jsonl"}
    ),
    "destination-relative": Case("destination 'out/x.jsonl' is a relative path; use an absolute one", {"destination": "out/x.jsonl"}),
    "destination-file-with-host": Case(
        "names host 'host'; a local file URI has three slashes: 'file:///absolute/path.jsonl'", {"destination": "file://host/x"}
    ),
    "destination-dotdot": Case("contains a '..' segment", {"destination": "file:///tmp/lips/../etc/x.jsonl"}),
    "destination-folder": Case("names a folder; add a file name such as 'interactions.jsonl'", {"destination": "file:///tmp/lips/"}),
    "destination-newline": Case("contains control characters; remove them", {"destination": "file:///tmp/lips/x\n.jsonl"}),
    "destination-bucket-only": Case("names no object inside the bucket", {"destination": "s3://aws_default@bucket/"}),
    "event-type-calls": Case("event_types has unknown value(s) ['calls']; choose from ['booking', 'call',", {"event_types": ["calls"]}),
    "channel-tv": Case("channels has unknown value(s) ['tv']; choose from", {"channels": ["tv"]}),
    "phone-abc": Case("phone_numbers value 'abc' is not valid: use an E.164 number, e.g. '+13184227453'", {"phone_numbers": "abc"}),
    "phone-empty-in-list": Case("phone_numbers contains an empty or non-string value ''", {"phone_numbers": ["+13184227453", ""]}),
    # -- hostile identifiers: each would change the query string if it reached the wire ---------
    "gmaid-ampersand": Case(
        "global_master_advertiser_id value 'USA_1&archived=true' is not valid: use only letters, digits",
        {"global_master_advertiser_id": "USA_1&archived=true"},
    ),
    "gmaid-hash": Case("global_master_advertiser_id value 'USA_1#x' is not valid", {"global_master_advertiser_id": "USA_1#x"}),
    "gmaid-slash": Case("global_master_advertiser_id value 'USA/1' is not valid", {"global_master_advertiser_id": "USA/1"}),
    "gmaid-newline": Case(
        "global_master_advertiser_id value 'USA_1\\nX-Injected: 1' is not valid",
        {"global_master_advertiser_id": "USA_1\nX-Injected: 1"},
    ),
    "gmaid-space": Case("global_master_advertiser_id value 'USA 1' is not valid", {"global_master_advertiser_id": "USA 1"}),
    "gmaid-not-a-string": Case(
        "global_master_advertiser_id contains an empty or non-string value 1.5", {"global_master_advertiser_id": [1.5]}
    ),
    "gmcid-question-mark": Case(
        "global_master_campaign_id value 'USA_3115232?page=9' is not valid: use only letters, digits, '_', '-' or '.', e.g. 'USA_3115232'",
        {"global_master_campaign_id": "USA_3115232?page=9"},
        bare=True,
    ),
    # -- templates rendered through the operator's own template fields ------------------------
    "template-gmaid-injection": Case(
        "global_master_advertiser_id value 'USA_1&per_page=5000' is not valid",
        {"global_master_advertiser_id": "{{ params.gmaid }}"},
        params={"gmaid": "USA_1&per_page=5000"},
    ),
    "template-window-nonsense": Case(
        "window_end='soon' is not an ISO-8601 date or datetime",
        {"window_start": "{{ ds }}", "window_end": "{{ params.end }}"},
        params={"end": "soon"},
    ),
    "template-window-equal": Case(
        "must be later than window_start", {"window_start": "{{ ds }}", "window_end": "{{ ds }}T00:00:00Z"}, params={}
    ),
    "template-destination-relative": Case(
        "destination 'data/2026-11-20.jsonl' is a relative path",
        {"destination": "{{ params.folder }}/{{ ds }}.jsonl"},
        params={"folder": "data"},
    ),
    "template-destination-folder": Case(
        "names a folder", {"destination": "file:///tmp/lips/{{ params.name }}"}, params={"name": ""}
    ),
    "template-event-types-string": Case(
        "event_types has unknown value(s) ['calls']", {"event_types": "{{ params.types }}"}, params={"types": "call,calls"}
    ),
    "template-lookback-nonsense": Case(
        "lookback='three days' is not an ISO-8601 duration; use e.g. 'P3D'",
        {"lookback": "{{ params.lookback }}"},
        params={"lookback": "three days"},
    ),
    # -- connection fields (AIRFLOW_CONN_LIPS_DEFAULT) ------------------------------------------
    "conn-no-host": Case("Connection 'lips_default' has no host: set it to the LIPS base URL, e.g. https://", host=""),
    "conn-host-with-bad-port": Case("host 'https://lips.example:http' is not a base URL", host="https://lips.example:http"),
    "conn-port-conflict": Case(
        "the host 'https://lips.example:8443' names port 8443 but the port field says 9443; clear one of them",
        host="https://lips.example:8443", port=9443,
    ),
    "conn-port-nonsense": Case("port must be a number from 1 to 65535, got 70000", host="https://lips.example", port=70000),
    "conn-schema-not-a-scheme": Case(
        "schema 'ftp' is not a URL scheme; use 'https' or 'http'", host="lips.example", schema="ftp"
    ),
    "conn-plain-http-remote": Case(
        "uses plain http to data-connect-lips.ganettdigital.com, which would send the API token unencrypted: use https, "
        "or set extra 'allow_insecure_http': true",
        host="http://data-connect-lips.ganettdigital.com",
    ),
    "conn-host-with-credentials": Case(
        "host must be a plain base URL without credentials, query or fragment", host="{userinfo_url}"
    ),
    "conn-host-with-query": Case("host must be a plain base URL without credentials, query or fragment", host="{url}/?per_page=5"),
    "conn-no-token": Case(
        "Connection 'lips_default' has no API token: put the token LIPS issued you in the connection's password field",
        conn={"token": ""},
    ),
    "conn-rps-fast": Case(
        "extra 'requests_per_second' must be a positive number, got 'fast'; remove it to use the default 20.0",
        conn={"requests_per_second": "fast"},
    ),
    "conn-rps-0": Case("extra 'requests_per_second' must be a positive number, got 0", conn={"requests_per_second": 0}),
    "conn-rps-negative": Case("extra 'requests_per_second' must be a positive number, got -5", conn={"requests_per_second": -5}),
    "conn-per-page-5000": Case("extra 'per_page' must be at most 1000", conn={"per_page": 5000}),
    "conn-per-page-fraction": Case("extra 'per_page' must be a positive integer, got 2.5", conn={"per_page": 2.5}),
    "conn-timeout-x": Case("extra 'request_timeout' must be a positive number, got 'x'", conn={"request_timeout": "x"}),
    "conn-max-attempts-0": Case("extra 'max_attempts' must be a positive integer, got 0", conn={"max_attempts": 0}),
    "conn-api-key-number": Case("extra 'api_key' must be a string", conn={"api_key": 12345}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_fails_clearly_before_any_request(case: Case, sandbox: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    host = case.host.format(url=sandbox.url, userinfo_url=sandbox.url.replace("http://", "http://user:secret@"))
    conn = dict(case.conn)
    token = conn.pop("token", TOKEN)
    api_key = conn.pop("api_key", API_KEY)
    connection = json.loads(lips_connection(host, token=token, api_key=None, **conn))
    connection["extra"]["api_key"] = api_key  # lips_connection's own api_key argument takes strings only
    connection.update({k: v for k, v in (("port", case.port), ("schema", case.schema)) if v is not None})
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", json.dumps(connection))
    kwargs = dict(case.kwargs) if case.bare else {**GOOD, **case.kwargs}

    # Each case is refused by the constructor, the rendering or execute, before any request: any of the three may raise.
    with pytest.raises(case.error) as raised:  # noqa: PT012
        operator = LipsContactInteractionsOperator(task_id="pull", **kwargs)
        if case.params is not None:
            # The real Jinja rendering a task run performs (Airflow's default environment).
            operator.render_template_fields(context(START, END, **CONTEXT, params=case.params))
        operator.execute(context(START, END, **CONTEXT))

    assert type(raised.value) is case.error
    assert case.fragment in str(raised.value), str(raised.value)
    # A validation error ends the task at once: Airflow must not spend retries on it.
    assert isinstance(raised.value, AirflowFailException)
    assert data_requests(sandbox) == [], "a request reached the server before the input was rejected"
    # No secret in the message.
    assert TOKEN not in str(raised.value) and "secret" not in str(raised.value)

