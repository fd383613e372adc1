"""Memory bounded by bytes: a pull of large records (200 KB chat transcripts) holds at most
``max_bytes_in_flight`` of page bodies at once, whatever the concurrency; the output is still complete.

What the client holds is read off the sandbox's log: a page the server has answered but the
pull has not handed to its sink yet is a page in the client's memory.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.hooks.lips import LipsHook
from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator
from airflow_provider_lips.pull.engine import Pull
from airflow_provider_lips.pull.window import TimeWindow
from lips_sandbox import LipsSandbox, generate_interactions, with_long_transcripts
from tests.support import API_KEY, DATA_END, DATA_START, TOKEN, context, expected_ids, lips_connection, wait_until

pytestmark = pytest.mark.integration  # sandboxes of its own

RECORD_BYTES = 200_000
PER_PAGE = 5  # about 1 MB a page
PAGES = 16  # 80 interactions
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def large() -> list[dict]:
    """80 interactions of about 200 KB each: 16 pages of about 1 MB."""
    data = generate_interactions(seed=21, count=80, start=DATA_START, end=DATA_END, advertisers=("USA_1",))
    return with_long_transcripts(data, RECORD_BYTES)


@pytest.fixture
def server(large: list[dict], monkeypatch: pytest.MonkeyPatch) -> Any:
    with LipsSandbox(large, token=TOKEN, api_key=API_KEY, latency_ms=5) as sandbox:
        yield sandbox


def pull_slowly(server: LipsSandbox, monkeypatch: pytest.MonkeyPatch, **connection: Any) -> tuple[list[int], list[int], int]:
    """Pull with a sink that takes its time, so the fetcher runs as far ahead as it may.

    Returns the ids pulled, the pages held ahead of the sink at each page, and the largest page's size.
    """
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT",
        lips_connection(server.url, requests_per_second=500, per_page=PER_PAGE, concurrency=4, **connection),
    )
    hook = LipsHook()
    ids: list[int] = []
    ahead: list[int] = []

    def answered() -> int:
        return sum(1 for entry in server.requests if entry["path"] == "/contact_interactions")

    def sink(records: list[dict[str, Any]]) -> None:
        ids.extend(record["id"] for record in records)
        page = len(ahead) + 1
        # The sink works until the pool has answered a page past this one (or every page; at most a second, as
        # a bound smaller than a page lets nothing ahead), then a little longer: the pages held meanwhile are
        # what the bound limits.
        with suppress(TimeoutError):
            wait_until(lambda: answered() > page or answered() >= PAGES, 1, "a page fetched ahead", interval=0.01)
        time.sleep(0.08)
        ahead.append(answered() - page)

    try:
        filters = ContactInteractionFilters.from_values(global_master_advertiser_id="USA_1")
        Pull(hook, CONTACT_INTERACTIONS, filters, TimeWindow(DATA_START, DATA_END), completeness="off").run(sink)
    finally:
        hook.close()
    largest = max(len(json.dumps(r).encode()) for r in server.interactions) * PER_PAGE
    return ids, ahead, largest


def test_large_records_are_held_within_the_byte_budget(
    server: LipsSandbox, large: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = int(3.5 * MiB)
    ids, ahead, page_bytes = pull_slowly(server, monkeypatch, max_bytes_in_flight=budget)
    assert sorted(ids) == sorted(expected_ids(large, DATA_START, DATA_END)) and len(ids) == len(set(ids))
    assert len(ahead) == PAGES
    # The page with the sink plus the pages ahead of it fit in the budget.
    assert (max(ahead) + 1) * page_bytes <= budget, f"held {max(ahead) + 1} pages of {page_bytes} bytes"
    assert max(ahead) >= 1, "it still fetches ahead while the sink works"


def test_without_the_byte_budget_the_same_pull_would_hold_many_more_pages(
    server: LipsSandbox, large: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contrast that shows the bound does the work: with 64 MiB, 2 x concurrency pages are held."""
    ids, ahead, _ = pull_slowly(server, monkeypatch)
    assert sorted(ids) == sorted(expected_ids(large, DATA_START, DATA_END))
    assert max(ahead) > 3, f"only {max(ahead)} pages ahead: the contrast does not show"


def test_a_budget_smaller_than_a_page_still_completes_one_page_ahead(
    server: LipsSandbox, large: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, ahead, _ = pull_slowly(server, monkeypatch, max_bytes_in_flight=1000)
    assert sorted(ids) == sorted(expected_ids(large, DATA_START, DATA_END))
    assert max(ahead) <= 1


def test_the_operator_argument_wins_over_the_connection_extra(
    server: LipsSandbox, large: list[dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Connection says 1 byte, operator says 3.5 MiB: the operator's budget applies (and the file is complete)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPS_DEFAULT",
        lips_connection(server.url, requests_per_second=500, per_page=PER_PAGE, max_bytes_in_flight=1),
    )
    operator = LipsContactInteractionsOperator(
        task_id="pull", global_master_advertiser_id="USA_1", destination=str(tmp_path / "out.jsonl"),
        max_bytes_in_flight=int(3.5 * MiB), completeness="off",
    )
    hook = LipsHook(max_bytes_in_flight=operator.max_bytes_in_flight)
    assert hook.settings.max_bytes_in_flight == int(3.5 * MiB)
    assert LipsHook().settings.max_bytes_in_flight == 1
    manifest = operator.execute(context(DATA_START, DATA_END))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert manifest["records"] == len(lines) == len(expected_ids(large, DATA_START, DATA_END))


@pytest.mark.parametrize("value", [0, -5, 1.5, "64MB", True])
def test_a_bad_byte_budget_fails_before_any_request(value: Any, server: LipsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LipsValidationError, match="max_bytes_in_flight"):
        LipsContactInteractionsOperator(task_id="pull", global_master_advertiser_id="USA_1", max_bytes_in_flight=value)
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, max_bytes_in_flight=value))
    with pytest.raises(LipsValidationError, match="extra 'max_bytes_in_flight' must be a positive integer"):
        LipsHook().settings  # noqa: B018
    assert server.requests == []
