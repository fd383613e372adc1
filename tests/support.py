"""Constants and helpers shared by the tests (no side effects: conftest.py sets up Airflow)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOKEN = "tok-3f9c1e7a5b"
API_KEY = "key-8d2b6c4e0a"


def lips_connection(url: str, *, token: str = TOKEN, api_key: str | None = API_KEY, **extra: object) -> str:
    """A LIPS connection as the JSON Airflow reads from AIRFLOW_CONN_<ID>."""
    if api_key:
        extra["api_key"] = api_key
    return json.dumps({"conn_type": "lips", "host": url, "password": token, "extra": extra})


def expected_ids(records: list[dict], start: datetime, end: datetime, **equal: object) -> set[int]:
    """Ground truth computed from the data itself: ids with start <= occurred_at < end and matching fields."""
    from airflow_provider_lips.window import parse_timestamp

    return {
        r["id"]
        for r in records
        if not r.get("archived_at")
        and start <= parse_timestamp(r["occurred_at"]) < end
        and all(r.get(k) == v for k, v in equal.items())
    }


def pull_records(hook: Any, *, start: str = "2026-11-01", end: str = "2026-12-01", **filters: Any) -> list[dict]:
    """Every contact interaction of ``[start, end)`` through the pull engine, without totals checks."""
    from airflow_provider_lips.endpoints import CONTACT_INTERACTIONS
    from airflow_provider_lips.pull import Pull
    from airflow_provider_lips.query import ContactInteractionFilters
    from airflow_provider_lips.window import TimeWindow

    records: list[dict] = []
    window = TimeWindow.from_values(start, end)
    Pull(hook, CONTACT_INTERACTIONS, ContactInteractionFilters.from_values(**filters), window, completeness="off").run(records.extend)
    return records


def data_requests(server: Any) -> list[dict]:
    """The sandbox's log of API requests (listing and totals)."""
    return [entry for entry in server.requests if entry["path"].startswith("/contact_interactions")]
