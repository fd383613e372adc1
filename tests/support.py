"""Constants and helpers shared by the tests (no side effects: conftest.py sets up Airflow)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "airflow_provider_lips" / "example_dags"
TOKEN = "tok-3f9c1e7a5b"
API_KEY = "key-8d2b6c4e0a"
# The session's data (fixture ``interactions`` in tests/conftest.py) spans [DATA_START, DATA_END);
# a day and a week inside it.
DATA_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DATA_END = datetime(2026, 11, 29, tzinfo=timezone.utc)
DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
WEEK = (datetime(2026, 11, 10, tzinfo=timezone.utc), datetime(2026, 11, 17, tzinfo=timezone.utc))


class PgParams(TypedDict):
    host: str
    port: int
    user: str
    dbname: str


# The shared PostgreSQL server (trust authentication): the tests' schemas and the deployments' databases live there.
PG: PgParams = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
T = TypeVar("T")
# The tables the load writes (tests/transfers).
TABLES = ("lips_contact_interactions", "lips_contacts")
# The transfers fixtures ``interaction`` and ``jsonl`` (tests/transfers/conftest.py), as tests annotate them.
Interaction = Callable[..., dict[str, Any]]
Jsonl = Callable[..., Path]

# One interaction shaped like the seed's sample response, plus the fields later API versions add.
SAMPLE_INTERACTION: dict[str, Any] = {
    "id": 4314774,
    "contact_id": 2197617,
    "global_master_advertiser_id": "USA_1",
    "global_master_campaign_id": "USA_3115232",
    "campaign_name": "LSS Test Campaign",
    "channel": "search",
    "refer_type": "UNKNOWN",
    "refer_source": "PAID",
    "influencing_campaign": "",
    "created_at": "2021-09-06T16:18:42.505Z",
    "occurred_at": "2021-09-06T16:16:08.000Z",
    "display_name": "S ELIGIO",
    "event_type": "call",
    "sub_type": None,
    "external_source": "capture",
    "page_url": None,
    "archived_at": None,
    "call": {"duration": 184, "caller_number": "+13184227453", "recording_url": "https://example.invalid/r.mp3"},
    "contact": {
        "id": 2197617,
        "first_name": "S",
        "last_name": "ELIGIO",
        "email": None,
        "company": None,
        "title": None,
        "phone_numbers": [{"phone_type": "work", "phone_number": "+13184227453"}],
        "created_at": "2021-09-04T01:21:27.394Z",
        "contact_external_source": "a6426573-5120-4077-9d71-ac5e7f65bccd",
        "interaction_external_source": "capture",
    },
}


def sample_interaction(interaction_id: int = 4314774, *, contact: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A fresh copy of :data:`SAMPLE_INTERACTION`; ``contact`` entries and ``fields`` override the sample's."""
    record = copy.deepcopy(SAMPLE_INTERACTION)
    record["id"] = interaction_id
    record["contact"].update(contact or {})
    record["contact_id"] = record["contact"]["id"]
    record.update(fields)
    return record


@dataclass(frozen=True)
class PostgresSchema:
    """A test's own schema in the shared PostgreSQL database (fixture ``postgres_schema``)."""

    name: str

    @property
    def options(self) -> str:
        return f"-c search_path={self.name}"

    def connection(self) -> str:
        """An Airflow ``postgres`` connection (AIRFLOW_CONN_<ID> JSON) whose tables live in this schema."""
        extra = {"options": self.options}
        return json.dumps(
            {"conn_type": "postgres", "host": PG["host"], "port": PG["port"], "login": PG["user"], "schema": PG["dbname"], "extra": extra}
        )

    def connect(self) -> Any:
        """A psycopg connection into this schema, the test's own view of the database."""
        import psycopg

        return psycopg.connect(**PG, options=self.options)


def postgres_unreachable() -> str | None:
    """Why the PostgreSQL server at :data:`PG` cannot be used, or None when it can."""
    import psycopg

    try:
        psycopg.connect(**PG, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG['host']}:{PG['port']} (database {PG['dbname']}) is unreachable: {exc}"
    return None


def require_postgres(unreachable: str | None) -> None:
    """Skip the test when PostgreSQL is down (``unreachable`` says why), or fail with LIPS_REQUIRE_POSTGRES=1 (as in CI)."""
    if unreachable:
        if os.environ.get("LIPS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{unreachable} (LIPS_REQUIRE_POSTGRES=1)")
        pytest.skip(f"{unreachable}; set LIPS_REQUIRE_POSTGRES=1 to fail instead")


@dataclass
class Warehouse:
    """The database behind ``lips_warehouse``, queried with its own driver, not the code under test."""

    dialect: str  # "sqlite" or "postgres"
    connect: Callable[[], Any]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            conn.close()

    def value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        (row,) = self.rows(sql, params)
        return row[0]

    def table_exists(self, table: str) -> bool:
        if self.dialect == "sqlite":
            return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))
        return bool(self.value("SELECT to_regclass(%s) IS NOT NULL", (table,)))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]] | None]:
        """Every row of both tables, every column, or None for a missing table."""
        return {t: self.rows(f"SELECT * FROM {t} ORDER BY id") if self.table_exists(t) else None for t in TABLES}

    def json(self, value: Any) -> Any:
        """JSONB arrives decoded from PostgreSQL, JSON text from SQLite."""
        return json.loads(value) if isinstance(value, str) else value

    def utc_text(self, column: str) -> str:
        """SQL rendering a timestamp column through the database's own date functions."""
        if self.dialect == "sqlite":
            return f"strftime('%Y-%m-%d %H:%M:%f', {column})"
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"

    def seconds_between(self, later: str, earlier: str) -> str:
        if self.dialect == "sqlite":
            return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"
        return f"EXTRACT(EPOCH FROM {later} - {earlier})"


def lips_connection(url: str, *, token: str = TOKEN, api_key: str | None = API_KEY, **extra: object) -> str:
    """A LIPS connection as the JSON Airflow reads from AIRFLOW_CONN_<ID>."""
    if api_key:
        extra["api_key"] = api_key
    return json.dumps({"conn_type": "lips", "host": url, "password": token, "extra": extra})


@lru_cache(maxsize=65536)
def utc(text: str) -> datetime:
    """A UTC timestamp as the sandbox writes it (``2026-11-20T16:16:08.000Z``) or Airflow's REST API does
    (``2026-11-20T00:00:00Z``, ``...+00:00``), read with ``strptime`` alone: the oracles never use the
    provider's own parser (``pull.window.parse_timestamp``), so a bug there cannot pass unseen.
    """
    for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            moment = datetime.strptime(text, layout)  # noqa: DTZ007 (both layouts end in %z)
        except ValueError:
            continue
        if moment.utcoffset() == timedelta(0):
            return moment.astimezone(timezone.utc)
    raise ValueError(f"{text!r} is not a UTC timestamp in the sandbox's or Airflow's fixed layout")


def expected_ids(records: list[dict], start: datetime, end: datetime, **equal: object) -> set[int]:
    """Ground truth computed from the data itself: ids with start <= occurred_at < end and matching fields."""
    return {
        r["id"]
        for r in records
        if not r.get("archived_at")
        and start <= utc(r["occurred_at"]) < end
        and all(r.get(k) == v for k, v in equal.items())
    }


def pull(**kwargs: Any) -> LipsContactInteractionsOperator:
    """The interactions operator (task ``pull``, advertiser ``USA_1`` unless told otherwise)."""
    from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

    kwargs.setdefault("task_id", "pull")
    kwargs.setdefault("global_master_advertiser_id", "USA_1")
    return LipsContactInteractionsOperator(**kwargs)


def context(start: datetime = DAY, end: datetime | None = None, **more: Any) -> Context:
    """The task context as ``execute`` gets it: the data interval ``[start, end)`` (one day by default) and ``more``."""
    return cast("Context", {"data_interval_start": start, "data_interval_end": end or start + timedelta(days=1), **more})


def run(operator: Any, start: datetime = DAY, end: datetime | None = None) -> Any:
    """Execute ``operator`` with the data interval Airflow would pass: ``[start, end)``, one day by default."""
    return operator.execute(context(start, end))


def pull_records(hook: Any, *, start: str = "2026-11-01", end: str = "2026-12-01", **filters: Any) -> list[dict]:
    """Every contact interaction of ``[start, end)`` through the hook, without totals checks."""
    gmaid = filters.pop("global_master_advertiser_id", None)
    return list(hook.iter_contact_interactions(gmaid, start, end, completeness="off", **filters))


def data_requests(server: Any) -> list[dict]:
    """The sandbox's log of API requests (listing and totals)."""
    return [entry for entry in server.requests if entry["path"].startswith("/contact_interactions")]


def busiest_second(times: list[float]) -> int:
    """The most events in any one-second window [t, t + 1) (e.g. requests as the server logged them)."""
    times = sorted(times)
    # A busiest window can always be slid right until it starts at an event.
    return max((sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times)), default=0)


def run_together(commands: list[list[str]], go: Path, *, timeout: float = 120, **popen: Any) -> list[str]:
    """Start every command, wait until each printed "ready", then create ``go`` so they all start at once.

    Returns each process's output after its "ready" line; fails naming the process that failed.
    Every process is killed on the way out, failures included.
    """
    processes: list[subprocess.Popen[str]] = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen) for c in commands
    ]
    try:
        for process in processes:
            line = process.stdout.readline() if process.stdout else ""
            if line.strip() != "ready":
                process.wait(timeout)
                raise AssertionError(f"{process.args!r} did not start: {line}{process.stderr.read() if process.stderr else ''}")
        go.touch()
        deadline = time.monotonic() + timeout
        outputs = []
        for process in processes:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if process.returncode != 0:
                raise AssertionError(f"{process.args!r} exited {process.returncode}:\n{err[-3000:]}")
            outputs.append(out)
        return outputs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def plaintext_pii(records: list[dict]) -> set[str]:
    """The personal values of ``records`` as they could appear in any text: names (JSON-quoted, so that a
    first name such as "Mark" is not found inside ordinary words), full names, e-mails, phone numbers in
    E.164, transcript lines, form messages and URLs."""
    found: set[str] = set()

    def phone(number: object) -> None:
        if isinstance(number, str) and number.startswith("+1"):
            found.add(number.split(" ")[0])

    for record in records:
        contact = record.get("contact") or {}
        for name in (contact.get("first_name"), contact.get("last_name")):
            if name:
                found.add(json.dumps(name))
        for text in (record.get("display_name"), contact.get("email"), record.get("page_url")):
            if text:
                found.add(text)
        if contact.get("first_name") and contact.get("last_name"):
            found.add(f"{contact['first_name']} {contact['last_name']}")
        for number in contact.get("phone_numbers") or []:
            phone(number.get("phone_number"))
        call = record.get("call") or {}
        phone(call.get("caller_number"))
        if call.get("recording_url"):
            found.add(call["recording_url"])
        found.update(line["message"] for line in (record.get("chat") or {}).get("transcript", []))
        fields = (record.get("form") or {}).get("fields") or {}
        found.update(str(value) for value in fields.values() if value)
    return found


def redis_connection(port: int, db: int = 0, host: str = "127.0.0.1") -> str:
    """A Redis connection as the JSON Airflow reads from AIRFLOW_CONN_<ID>."""
    return json.dumps({"conn_type": "redis", "host": host, "port": port, "extra": {"db": db}})


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A loopback port nobody listens on right now (bind, read, release)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
# OAuth2 credentials the sandbox is configured with in the OAuth2 tests (distinctive, for leak checks).
OAUTH = {
    "client_id": "cid-LIPS-4b1e",
    "client_secret": "csecret-LEAKCHECK-90c2f7",
    "login": "ops@example.com",
    "password": "pw-LEAKCHECK-5d8a31",
}


def oauth_sandbox_settings() -> dict[str, str]:
    """The sandbox settings that switch OAuth2 on for :data:`OAUTH`."""
    return {
        "oauth_client_id": OAUTH["client_id"],
        "oauth_client_secret": OAUTH["client_secret"],
        "oauth_username": OAUTH["login"],
        "oauth_password": OAUTH["password"],
    }


def lips_oauth_connection(url: str, **fields: object) -> str:
    """An OAuth2 LIPS connection as AIRFLOW_CONN_<ID> JSON, token URL on the sandbox.

    ``fields`` override :data:`OAUTH` or ``token_url`` (``None`` leaves one out) or add extras.
    """
    values: dict[str, object] = {**OAUTH, "token_url": f"{url}/oauth/token", **fields}
    login, password = values.pop("login"), values.pop("password")
    extra = {"auth_type": "oauth2", **{key: value for key, value in values.items() if value is not None}}
    conn = {"conn_type": "lips", "host": url, "login": login, "password": password, "extra": extra}
    return json.dumps({key: value for key, value in conn.items() if value is not None})


@dataclass
class RedisServer:
    """A redis-server of the test's own on a free port, which the test may kill."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def lake_partitions(folder: Path) -> dict[str, list[int]]:
    """``occurred_date`` -> ids of each day's file under ``folder`` (one advertiser's), as a partition reader sees them."""
    return {
        path.parent.name.removeprefix("occurred_date="): [json.loads(line)["id"] for line in path.read_text().splitlines()]
        for path in sorted(folder.glob("occurred_date=*/contact_interactions.jsonl"))
    }


def truth_by_day(records: list[dict], first: date, last: date, **equal: object) -> dict[str, set[int]]:
    """``occurred_date`` -> the ids that occurred that UTC day, for every day from ``first`` to ``last``."""
    truth = {}
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        truth[day.isoformat()] = expected_ids(records, start, start + timedelta(days=1), **equal)
    return truth
