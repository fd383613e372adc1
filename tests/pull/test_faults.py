"""The operator under every sandbox fault at once, killed mid-walk, and with totals that never add up.

Real HTTP against LipsSandbox on 127.0.0.1; nothing in requests is mocked. Faults are drawn
from ``fault_seed`` in the order requests reach the server, so a pull with ``concurrency=1``
meets exactly the same faults every time: the suite runs it twice and compares.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import AirflowTaskTerminated
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import AirflowTaskTerminated  # type: ignore[no-redef]
from airflow_provider_lips.exceptions import LipsIncompleteError, LipsResponseError, LipsXComLimitError
from lips_sandbox import LipsSandbox, generate_interactions
from tests.support import API_KEY, TOKEN, WEEK, data_requests, expected_ids, lips_connection, pull, run

pytestmark = pytest.mark.integration  # sandboxes of its own

NOV_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
NOV_END = datetime(2026, 11, 29, tzinfo=timezone.utc)

# 3,000 interactions of one advertiser: 60 pages of 50 per walk.
FAULT_DATA_COUNT = 3000
FAULTS: dict[str, Any] = {
    "max_per_page": 50,
    "fault_seed": 20261120,
    "error_rate": 0.10,
    "drop_rate": 0.03,
    "retry_after_format": "http-date",
    "latency_ms": 1,
    "latency_jitter_ms": 6,
    # After the 20th listing page served: 7 new interactions, 4 archived (totals move by +3).
    "mutate_during_walk": {"after_requests": 20, "insert": 7, "archive": 4},
}


@pytest.fixture(scope="module")
def fault_data() -> list[dict]:
    return generate_interactions(seed=11, count=FAULT_DATA_COUNT, start=NOV_START, end=NOV_END, advertisers=("USA_1",))


def ids_in(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def connect(monkeypatch: pytest.MonkeyPatch, server: LipsSandbox, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_DEFAULT", lips_connection(server.url, **extra))


# -- every fault at once ----------------------------------------------------------------------


def _faulty_pull(server: LipsSandbox, conn_id: str, folder: Path, concurrency: int) -> dict[str, Any]:
    """One pull of November through every fault; returns what a user (and the suite) can observe."""
    target = folder / "interactions.jsonl"
    manifest = run(
        pull(
            lips_conn_id=conn_id, destination=f"file://{target}", per_page=100, completeness="fail", concurrency=concurrency
        ),
        NOV_START,
        NOV_END,
    )
    return {
        "ids": ids_in(target),
        "manifest": manifest,
        "statuses": [e["status"] for e in data_requests(server)],
        "paths": [e["path"] for e in data_requests(server)],
        "mutations": server.mutations,
        "truth_end": expected_ids(server.interactions, NOV_START, NOV_END),
        "folder": sorted(p.name for p in folder.iterdir()),
    }


def _fault_sandbox(fault_data: list[dict], monkeypatch: pytest.MonkeyPatch, conn_id: str, **changes: Any) -> LipsSandbox:
    server = LipsSandbox(fault_data, token=TOKEN, api_key=API_KEY, **{**FAULTS, **changes}).start()
    # max_attempts 10: a request meets a fault 18 % of the time; 6 tries in a row must not run out.
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", lips_connection(server.url, requests_per_second=1000, max_attempts=10))
    return server


def _check_fault_pull(seen: dict[str, Any], fault_data: list[dict], *, every_kind: bool) -> None:
    ids, manifest, mutations = seen["ids"], seen["manifest"], seen["mutations"]
    inserted, archived = set(mutations["inserted"]), set(mutations["archived"])
    assert len(inserted) == 7 and len(archived) == 4, "the mutation happened"
    # Nothing twice, although pages shifted under the walk and two walks overlap entirely.
    assert len(ids) == len(set(ids))
    # Everything that existed for the whole walk is there ...
    stable = expected_ids(fault_data, NOV_START, NOV_END) - archived
    assert stable <= set(ids)
    assert stable == seen["truth_end"] - inserted
    # ... and nothing that was never there: each id is live at the end or was archived mid-walk.
    assert set(ids) <= seen["truth_end"] | archived
    # The second walk saw the new interactions (those inside the window).
    assert seen["truth_end"] <= set(ids)
    # The totals moved (+7 -4), so the walk was repeated, and the repeat added up.
    assert manifest["walks"] == 2
    check = manifest["completeness"][0]
    assert check["walks"] == 2 and check["server_totals"] == check["distinct_seen"] == FAULT_DATA_COUNT + 7 - 4
    assert manifest["records"] == len(ids)
    assert manifest["pages"] >= 2 * 60  # 60 pages of 50; 61 once the inserts land
    assert seen["folder"] == ["interactions.jsonl"], "no partial file left behind"
    statuses = Counter(seen["statuses"])
    if every_kind:  # serial: the seed decides, so every kind of fault is certain to occur
        assert statuses[0] and statuses[429] and sum(statuses[s] for s in (500, 502, 503, 504)), statuses
    else:  # concurrent: the mutation's draws land at a varying point of the fault sequence
        assert sum(n for s, n in statuses.items() if s != 200) >= 5, statuses
    assert seen["paths"].count("/contact_interactions/totals") >= 3


def test_every_fault_at_once_is_survived_identically_twice(
    fault_data: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """10 % 5xx, 3 % drops, 429s answered with an HTTP-date Retry-After, jittered latency, data changing mid-walk.

    Two identical sandboxes, two serial pulls (run side by side to halve the wall time):
    the same fault meets the same request in both, so both must give the same answer.
    """
    # Four 429s at fixed ordinals: each holds the pull for up to a second.
    servers = [_fault_sandbox(fault_data, monkeypatch, f"lips_run{n}", burst_429=[4, 33, 71, 118]) for n in range(2)]
    try:
        with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"), ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(_faulty_pull, server, f"lips_run{n}", tmp_path / f"run{n}", 1) for n, server in enumerate(servers)
            ]
            runs = [future.result() for future in futures]
    finally:
        for server in servers:
            server.stop()
    for seen in runs:
        _check_fault_pull(seen, fault_data, every_kind=True)
    # Same seed, serial requests: the same faults on the same requests, and the same output in the same order.
    assert runs[0]["statuses"] == runs[1]["statuses"]
    assert [i for i, s in enumerate(runs[0]["statuses"], 1) if s == 429] == [4, 33, 71, 118]
    assert runs[0]["mutations"] == runs[1]["mutations"]
    assert runs[0]["ids"] == runs[1]["ids"]
    assert "the list changed, walking again" in caplog.text
    assert "HTTP 429; retry 1/9" in caplog.text and "ConnectionError; retry 1/9" in caplog.text


def test_every_fault_at_once_with_concurrent_pages(fault_data: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same faults with 8 pages in flight and 5 % of requests answered 429 (Retry-After in seconds)."""
    server = _fault_sandbox(fault_data, monkeypatch, "lips_concurrent", burst_429=0.05, retry_after_format="seconds")
    try:
        seen = _faulty_pull(server, "lips_concurrent", tmp_path, 8)
    finally:
        server.stop()
    _check_fault_pull(seen, fault_data, every_kind=False)


# -- killed mid-walk --------------------------------------------------------------------------


class _KillAtPage(logging.Filter):
    """Raise AirflowTaskTerminated (what a SIGTERM to the task raises) once page ``k`` reached the file."""

    def __init__(self, page: int, folder: Path) -> None:
        super().__init__()
        self.page, self.folder, self.armed = page, folder, True
        self.partial_seen: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.armed and "page %d of %d" in str(record.msg) and isinstance(record.args, tuple) and record.args[1] == self.page:
            self.armed = False
            self.partial_seen = [p.name for p in self.folder.iterdir() if p.name.endswith(".partial") and p.stat().st_size]
            raise AirflowTaskTerminated("Task received SIGTERM signal")
        return True


KILLS = {
    "malformed-page": ({"malformed_pages": [5]}, LipsResponseError, r"page=5&per_page=10 answered 200 with a body that is not JSON"),
    "missing-key-page": ({"missing_key_pages": [5]}, LipsResponseError, r"page 5 of GET .* has no 'contact_interactions' list"),
    "wrong-page": ({"wrong_page_pages": [5]}, LipsResponseError, r"page 5 of GET .* answered for page 6 instead"),
    "sigterm-after-page-12": ({}, AirflowTaskTerminated, r"SIGTERM"),
}


@pytest.mark.parametrize(("fault", "error", "match"), KILLS.values(), ids=KILLS.keys())
def test_a_task_killed_mid_walk_leaves_the_previous_file_and_the_rerun_is_complete(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path, fault: dict, error: type[BaseException], match: str
) -> None:
    lips_conn.configure(max_per_page=10)
    target = tmp_path / "interactions.jsonl"
    truth = expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")
    assert len(truth) > 150, "enough for more than 12 pages of 10"
    pull_logger = logging.getLogger("airflow_provider_lips.pull.engine")
    old_level = pull_logger.level
    pull_logger.setLevel(logging.DEBUG)  # the kill switch rides on the per-page DEBUG line

    def killed_run() -> None:
        lips_conn.configure(**fault)
        kill = _KillAtPage(12, tmp_path)
        if not fault:
            pull_logger.addFilter(kill)
        try:
            with pytest.raises(error, match=match):
                run(pull(destination=f"file://{target}", per_page=10, concurrency=4), *WEEK)
        finally:
            pull_logger.removeFilter(kill)
            lips_conn.configure(malformed_pages=[], missing_key_pages=[], wrong_page_pages=[])
        if not fault:
            assert kill.partial_seen, "the kill came while a partial file held pages 1..12"

    try:
        # First run dies: nothing at the destination, nothing left beside it.
        killed_run()
        assert list(tmp_path.iterdir()) == []
        # A clean run writes the whole window.
        run(pull(destination=f"file://{target}", per_page=10), *WEEK)
        good = target.read_bytes()
        assert set(ids_in(target)) == truth
        # The next run dies: the previous complete file is untouched, no temp file remains.
        killed_run()
        assert target.read_bytes() == good
        assert [p.name for p in tmp_path.iterdir()] == ["interactions.jsonl"]
        # The rerun with the fault gone produces the full, correct file.
        run(pull(destination=f"file://{target}", per_page=10, concurrency=4), *WEEK)
        ids = ids_in(target)
        assert len(ids) == len(set(ids)) and set(ids) == truth
        assert [p.name for p in tmp_path.iterdir()] == ["interactions.jsonl"]
    finally:
        pull_logger.setLevel(old_level)


# -- completeness -----------------------------------------------------------------------------


class _MutateAgainOnRewalk(logging.Filter):
    """When the pull announces its second walk, make the list change again during that walk.

    The sandbox mutates once per ``mutate_during_walk`` setting, so totals that never add up
    are made by arming a second mutation between the walks.
    """

    def __init__(self, server: LipsSandbox) -> None:
        super().__init__()
        self.server = server
        self.first_mutation: dict[str, list[int]] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if "walking again" in str(record.msg) and self.first_mutation is None:
            self.first_mutation = self.server.mutations  # configure() below forgets them
            self.server.configure(mutate_during_walk={"after_requests": 2, "insert": 2, "archive": 3})
        return True


def _unsettled_pull(server: LipsSandbox, completeness: str) -> tuple[Any, _MutateAgainOnRewalk]:
    server.configure(max_per_page=10, fault_seed=5, mutate_during_walk={"after_requests": 2, "insert": 3, "archive": 1})
    mutate_again = _MutateAgainOnRewalk(server)
    pull_logger = logging.getLogger("airflow_provider_lips.pull.engine")
    pull_logger.addFilter(mutate_again)
    try:
        return run(pull(per_page=10, concurrency=1, completeness=completeness), *WEEK), mutate_again
    finally:
        pull_logger.removeFilter(mutate_again)


def _server_total(server: LipsSandbox) -> int:
    return len(server.truth(global_master_advertiser_id="USA_1", start_date="2026-11-09", end_date="2026-11-18"))


def test_completeness_fail_names_both_numbers(lips_conn: LipsSandbox) -> None:
    with pytest.raises(LipsIncompleteError) as raised:
        _unsettled_pull(lips_conn, "fail")
    message = str(raised.value)
    final = _server_total(lips_conn)
    found = re.search(r"totals moved from (\d+) to (\d+) interactions during the second walk, which saw (\d+) distinct ones", message)
    assert found, message
    before, reported, seen = map(int, found.groups())
    assert reported == final and before == final + 1  # the second mutation: +2 inserted, -3 archived
    assert 0 < seen <= final + 3  # what the walk itself counted, shown beside the server's number
    assert "Rerun later, or set completeness='warn'" in message


def test_completeness_warn_delivers_and_warns(lips_conn: LipsSandbox, interactions: list[dict], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"):
        records, mutate_again = _unsettled_pull(lips_conn, "warn")
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert mutate_again.first_mutation is not None
    archived = set(mutate_again.first_mutation["archived"]) | set(lips_conn.mutations["archived"])
    # Whatever stayed listed throughout was delivered; nothing delivered was never listed.
    assert expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1") - archived <= set(ids)
    assert set(ids) <= expected_ids(lips_conn.interactions, *WEEK, global_master_advertiser_id="USA_1") | archived
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "the output may miss interactions" in r.getMessage()]
    assert len(warnings) == 1
    assert re.search(r"moved from \d+ to \d+ interactions during the second walk, which saw \d+ distinct", warnings[0].getMessage())
    assert "Rerun later to fill the gap." in warnings[0].getMessage()


def test_completeness_off_sends_no_totals_request(lips_conn: LipsSandbox, interactions: list[dict]) -> None:
    lips_conn.configure(max_per_page=10)
    records = run(pull(per_page=10, completeness="off"), *WEEK)
    paths = {e["path"] for e in data_requests(lips_conn)}
    assert paths == {"/contact_interactions"}
    assert {r["id"] for r in records} == expected_ids(interactions, *WEEK, global_master_advertiser_id="USA_1")


def test_a_failed_sink_stops_the_page_requests(lips_conn: LipsSandbox) -> None:
    """The XCom guard fires mid-walk: once execute() has raised, no further request may reach LIPS.

    The error is held while the test waits, as Airflow's task runner holds it while it logs the
    failure and runs callbacks (pytest.raises would drop it, and garbage collection would
    close the page generator and hide the problem).
    """
    lips_conn.configure(max_per_page=10, latency_ms=200)
    try:
        run(pull(per_page=10, concurrency=4, completeness="off", xcom_max_records=100), *WEEK)
    except LipsXComLimitError as error:
        failed_at = time.time()
        time.sleep(0.6)
        assert "too many for XCom" in str(error)  # noqa: PT017 (pytest.raises would drop the failure: see above)
    else:
        pytest.fail("the XCom guard did not fire")
    late = [e for e in data_requests(lips_conn) if e["time"] > failed_at]
    assert late == [], f"{len(late)} page requests were sent after the task had failed"
