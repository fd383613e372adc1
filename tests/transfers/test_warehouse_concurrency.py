"""Loads of different advertisers into PostgreSQL run side by side, each on its own connection, and both land."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_lips.transfers.contact_interactions_to_sql import DEFAULT_SQL_CONN_ID as CONN_ID
from airflow_provider_lips.warehouse import LoadResult, load_contact_interactions
from tests.support import Interaction, Jsonl, PostgresSchema, Warehouse

pytestmark = pytest.mark.postgres

DAYS = ("2021-09-06", "2021-09-07", "2021-09-08")
# Generous bounds on waiting for a condition, so that a regression fails instead of hanging the run.
PATIENCE_S = 300.0


def pull(
    jsonl: Jsonl, interaction: Interaction, tag: str, advertiser: str, days: dict[str, list[tuple[int, dict[str, Any]]]]
) -> dict[str, Any]:
    """A complete one-file-per-day pull's manifest of ``advertiser`` over DAYS: day -> [(id, fields)]."""
    files = []
    for day, end in zip(DAYS, (*DAYS[1:], "2021-09-09"), strict=True):
        records = [
            interaction(n, global_master_advertiser_id=advertiser, occurred_at=f"{day}T12:00:00.000Z",
                        contact={"id": 1000 + n}, **fields)
            for n, fields in days.get(day, [])
        ]
        path = jsonl(f"{tag}-{advertiser}-{day}.jsonl", records)
        files.append({"uri": path.as_uri(), "records": len(records),
                      "window_start": f"{day}T00:00:00Z", "window_end": f"{end}T00:00:00Z"})
    filters = {"global_master_advertiser_id": [advertiser], "global_master_campaign_id": [], "phone_numbers": [],
               "event_types": [], "channels": []}
    return {"destination": f"file:///{advertiser}/", "files": files, "records": sum(f["records"] for f in files),
            "window_start": "2021-09-06T00:00:00Z", "window_end": "2021-09-09T00:00:00Z", "filters": filters,
            "include_archived": True, "complete": True}


def in_thread(load: Callable[[], LoadResult]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``load`` in a thread of its own (so on its own connection); the dict gets its result or error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = load()
        except BaseException as exc:  # handed to the test, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (polled), failing after PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_loads_of_two_advertisers_do_not_queue_on_one_lock(
    postgres_schema: PostgresSchema, monkeypatch: pytest.MonkeyPatch, interaction: Interaction, jsonl: Jsonl,
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", postgres_schema.connection())
    warehouse = Warehouse("postgres", postgres_schema.connect)
    a, b = "USA_A", "USA_B"
    load_contact_interactions(pull(jsonl, interaction, "seed", a, {DAYS[0]: [(1, {}), (2, {})], DAYS[1]: [(3, {})]}), CONN_ID)
    load_contact_interactions(pull(jsonl, interaction, "seed", b, {DAYS[0]: [(11, {})], DAYS[2]: [(12, {}), (13, {})]}), CONN_ID)
    # The vendor's truth a day later: 1 and 13 archived, 2 and 12 gone.
    archived = {"archived_at": "2021-09-09T10:00:00.000Z"}
    truth_a = pull(jsonl, interaction, "truth", a, {DAYS[0]: [(1, archived)], DAYS[1]: [(3, {})]})
    truth_b = pull(jsonl, interaction, "truth", b, {DAYS[0]: [(11, {})], DAYS[2]: [(13, archived)]})

    # Someone holds interaction 1 (advertiser A's): A's load waits for it, inside its transaction.
    blocker = postgres_schema.connect()
    try:
        blocker.execute("UPDATE lips_contact_interactions SET loaded_at = loaded_at WHERE id = 1")
        blocker_pid = blocker.execute("SELECT pg_backend_pid()").fetchone()[0]
        load_a, outcome_a = in_thread(lambda: load_contact_interactions(truth_a, CONN_ID))

        def a_waits() -> bool:
            assert "error" not in outcome_a and "result" not in outcome_a, outcome_a
            with postgres_schema.connect() as probe:
                return bool(probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (blocker_pid,)
                ).fetchone()[0])

        until(a_waits, "advertiser A's load to wait for the held row")
        # B's load, on its own connection, lands while A's is still open.
        load_b, outcome_b = in_thread(lambda: load_contact_interactions(truth_b, CONN_ID))
        load_b.join(PATIENCE_S)
        assert not load_b.is_alive(), "advertiser B's load queued behind advertiser A's"
        assert load_a.is_alive()
    finally:
        blocker.rollback()
        blocker.close()
    load_a.join(PATIENCE_S)
    for outcome in (outcome_a, outcome_b):
        if "error" in outcome:
            raise outcome["error"]
    assert (outcome_a["result"].removed, outcome_b["result"].removed) == (1, 1)
    rows = warehouse.rows(
        "SELECT id, global_master_advertiser_id, archived_at IS NOT NULL, removed_at IS NOT NULL "
        "FROM lips_contact_interactions ORDER BY id"
    )
    assert rows == [
        (1, a, True, False), (2, a, False, True), (3, a, False, False),
        (11, b, False, False), (12, b, False, True), (13, b, True, False),
    ]
    assert warehouse.value("SELECT count(*) FROM lips_contacts") == 6
