"""One rate budget for every request on a set of LIPS credentials, across processes and machines.

LIPS allows 20 requests/s per credentials, not per task: every task, worker and machine using
one token shares them. :class:`SharedRateBudget` keeps one schedule of request slots for those
credentials: pyrate-limiter's GCRA (one theoretical arrival time, burst 1, so slots are evenly
spaced), stored where every process on the credentials sees it:

- ``machine`` (the default, no set-up): one SQLite row in a per-user folder, updated under an
  exclusive ``flock``, shared by every process of that user on the machine (LocalExecutor,
  several task processes, ``airflow dags test`` runs side by side);
- ``redis``: pyrate-limiter's GCRA script on a Redis named by the LIPS connection's extra
  ``rate_limit_redis_conn_id`` (an Airflow Redis connection), shared by every worker on every machine.

A request *reserves* the next free slot (possibly a moment ahead) and sleeps until it, rather
than polling until a slot is free: a process that wakes late then delays only its own request,
never the schedule, so many processes together keep the whole rate. A 429 seen by anyone writes
a pause into the same store and everyone waits it out. The in-process pacer stays inside, so
the threads of one task still space their requests evenly. The budget is keyed by a hash of
base URL and token; the token itself is never stored. When the store cannot be reached,
requests stop with :class:`LipsRateBudgetError` rather than fall back to unshared pacing,
which would break the vendor's limit for everyone on the token.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyrate_limiter import GCRA, Rate, RateItem, RedisStateStore, StateBucket
from pyrate_limiter.abstracts.algorithm import Decision, State, StateAlgorithm
from pyrate_limiter.abstracts.store import StateStore

from airflow_provider_lips.client.ratelimit import DEFAULT_HEADROOM, RateLimiter
from airflow_provider_lips.exceptions import LipsRateBudgetError, LipsValidationError

if TYPE_CHECKING:
    from redis import Redis

FOLDER_ENV = "LIPS_RATE_BUDGET_DIR"
REDIS_CONN_EXTRA = "rate_limit_redis_conn_id"
REDIS_KEY_PREFIX = "airflow-provider-lips:rate-budget"
REDIS_IDLE_TTL_MS = 600_000  # an unused budget's state goes after 10 minutes
REDIS_TIMEOUT = 5.0  # seconds: a Redis that stops answering fails the pull instead of hanging it


def credentials_key(base_url: str, token: str) -> str:
    """The budget's name: a hash of base URL and token, so that neither is stored in clear."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{token}".encode()).hexdigest()[:32]


def budget_rate(requests_per_second: float, headroom: float = DEFAULT_HEADROOM) -> Rate:
    """One slot per emission interval: ``1 / requests_per_second`` stretched by ``headroom``, in whole ms.

    The headroom (5 %) absorbs the jitter between a slot's time and the moment the server
    counts the request; rounding up to whole milliseconds (slots are epoch milliseconds) only
    adds to it. At 20/s: a slot every 53 ms, 18.9 requests/s, and 21 requests span 1.06 s,
    so a request may arrive up to 60 ms late before the server's second holds 21.
    """
    return Rate(1, math.ceil(1000 * (1 + headroom) / requests_per_second), burst=1)


def default_folder() -> Path:
    """Where the machine-local budget lives: ``$LIPS_RATE_BUDGET_DIR``, else the user's cache folder."""
    configured = os.environ.get(FOLDER_ENV)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "airflow-provider-lips" / "rate-budget"


def _now_ms() -> int:
    # Wall clock, as slots are kept: shared between processes (and, with NTP, machines).
    return time.time_ns() // 1_000_000


class SQLiteStateStore(StateStore):
    """pyrate-limiter's state store contract on one SQLite row, atomic across processes by an exclusive flock.

    The lock is the kernel's: a waiting process is woken the moment the lock is free (no
    polling). WAL mode lets readers of the pause row go without it.
    """

    def __init__(self, path: Path) -> None:
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        with self.locked():
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS gcra (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT)")
            self.conn.execute("CREATE TABLE IF NOT EXISTS pause (id INTEGER PRIMARY KEY CHECK (id = 0), until_ms INTEGER)")

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield self.conn
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _load(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        row = self.conn.execute("SELECT state FROM gcra WHERE id = 0").fetchone()
        stored = algorithm.decode(row[0].split(",")) if row else ()
        # A row of another shape (written for another list of rates) starts afresh, as pyrate-limiter's own stores do.
        return stored if len(stored) == len(rates) else algorithm.initial(rates)

    def check(self, algorithm: StateAlgorithm, rates: list[Rate], now: int, weight: int) -> Decision:
        with self.locked() as conn:
            state, decision = algorithm.step(rates, self._load(algorithm, rates), now, weight)
            if decision.allowed:
                conn.execute(
                    "INSERT INTO gcra (id, state) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                    (",".join(str(int(value)) for value in state),),
                )
            return decision

    def read(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        return self._load(algorithm, rates)

    def reset(self) -> None:
        with self.locked() as conn:
            conn.execute("DELETE FROM gcra")

    def close(self) -> None:
        self.conn.close()
        os.close(self._lock_fd)


class BudgetStore(ABC):
    """The shared slot schedule (a GCRA bucket) plus a shared pause, behind one error boundary."""

    bucket: StateBucket

    def __init__(self, where: str, fix: str) -> None:
        self.where = where  # names the store in errors, without secrets
        self.fix = fix

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Turn the backend's errors into one retryable error that names the store and the fix."""
        try:
            yield
        except LipsRateBudgetError:
            raise
        except Exception as err:  # the backends raise their own families (redis, sqlite3, OSError)
            raise LipsRateBudgetError(
                f"The shared LIPS rate budget in {self.where} failed while {doing}: {type(err).__name__}: {err}. "
                f"No request was sent without a slot from it. {self.fix}"
            ) from err

    def reserve(self, slot_ms: int) -> int:
        """Take the slot at ``slot_ms``: 0 when it is ours, else the ms until the next one that may be free."""
        item = RateItem("request", slot_ms)
        if self.bucket.put(item):
            return 0
        waiting: Any = self.bucket.waiting(item)  # int, or an awaitable for async stores (not used here)
        return max(int(waiting), 1)

    @abstractmethod
    def paused_until_ms(self) -> int:
        """When the pause someone on these credentials asked for ends (epoch ms; 0 when none)."""

    @abstractmethod
    def pause(self, seconds: float) -> None:
        """Hold every process on these credentials for ``seconds`` from now (longer pauses win)."""

    def close(self) -> None:
        self.bucket.close()


class MachineStore(BudgetStore):
    """SQLite in a per-user folder: every process of the user on this machine."""

    def __init__(self, folder: Path, key: str, rate: Rate) -> None:
        path = folder / f"{key}.sqlite"
        super().__init__(
            f"{path} (machine-local, shared by this user's processes on this machine)",
            f"Make {folder} writable, or point ${FOLDER_ENV} at a writable folder; Airflow's task retries will "
            f"try again.",
        )
        with self.guard("opening it"):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.state = SQLiteStateStore(path)
            self.bucket = StateBucket([rate], algorithm=GCRA(), store=self.state)

    def paused_until_ms(self) -> int:
        row = self.state.conn.execute("SELECT until_ms FROM pause WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def pause(self, seconds: float) -> None:
        with self.state.locked() as conn:
            conn.execute(
                "INSERT INTO pause (id, until_ms) VALUES (0, ?) "
                "ON CONFLICT (id) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
                (_now_ms() + math.ceil(seconds * 1000),),
            )


class RedisStore(BudgetStore):
    """pyrate-limiter's GCRA in Redis (one theoretical arrival time, updated by its Lua script) and a pause key."""

    def __init__(self, client: Redis, key: str, rate: Rate, where: str, fix: str) -> None:
        super().__init__(where, fix)
        self.client = client
        self.key = f"{REDIS_KEY_PREFIX}:{key}"
        self.pause_key = f"{self.key}:pause"
        with self.guard("connecting (before any request to LIPS)"):
            client.ping()
            self.bucket = StateBucket(
                [rate],
                algorithm=GCRA(),
                store=RedisStateStore(client, self.key, ttl_ms=REDIS_IDLE_TTL_MS),  # an idle budget leaves nothing
            )

    def paused_until_ms(self) -> int:
        ttl: Any = self.client.pttl(self.pause_key)  # redis-py types it int | Awaitable[int]
        left = int(ttl)
        return _now_ms() + left if left > 0 else 0

    def pause(self, seconds: float) -> None:
        wanted = math.ceil(seconds * 1000)
        # Two processes pausing at once ask for about the same end; either one winning is right.
        ttl: Any = self.client.pttl(self.pause_key)
        if int(ttl) < wanted:
            self.client.set(self.pause_key, "429", px=wanted)

    def close(self) -> None:
        self.client.close()  # pyrate-limiter's RedisStateStore leaves the client to its owner


class SharedRateBudget:
    """Reserve one slot per request in the shared schedule, after the in-process pacer spaced it.

    ``acquire()`` and ``pause(seconds)`` are what the requester calls; both raise
    :class:`LipsRateBudgetError` when the store is lost.
    """

    def __init__(self, store: BudgetStore, pacer: RateLimiter, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.pacer = pacer
        self._sleep = sleep
        self._lock = threading.Lock()  # the store's connection and bucket are shared by the task's threads

    @property
    def where(self) -> str:
        return self.store.where

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        self.pacer.acquire()
        earliest = _now_ms()
        while True:
            slot = self._reserve(earliest)
            wait = slot - _now_ms()
            if wait <= 0:
                return  # the slot is now, and _reserve has just checked for a pause
            self._sleep(wait / 1000)
            with self._lock, self.store.guard("checking for a 429 pause"):
                resume = self.store.paused_until_ms()
            if resume <= _now_ms():
                return
            earliest = resume  # a 429 came while we slept: our slot is void, take one after the pause

    def _reserve(self, slot: int) -> int:
        """The first free slot at or after ``slot`` (and after any pause), now ours."""
        while True:
            with self._lock, self.store.guard("drawing a request slot"):
                slot = max(slot, self.store.paused_until_ms())
                later = self.store.reserve(slot)
            if later == 0:
                return slot
            slot += later

    def pause(self, seconds: float) -> None:
        """The server said 429: hold every process on these credentials for ``seconds``."""
        self.pacer.pause(seconds)
        with self._lock, self.store.guard("recording a 429 pause"):
            self.store.pause(seconds)

    def close(self) -> None:
        with self._lock:
            self.store.close()


def redis_client(redis_conn_id: str, lips_conn_id: str) -> tuple[Redis, str]:
    """The Airflow Redis connection's client (with timeouts) and a secret-free description of it."""
    try:
        from airflow.providers.redis.hooks.redis import RedisHook
    except ImportError as err:
        raise LipsValidationError(
            f"Connection {lips_conn_id!r} names a Redis rate budget (extra {REDIS_CONN_EXTRA!r} = {redis_conn_id!r}), "
            f"but the Redis provider is not installed: pip install 'airflow-provider-lips[redis]'."
        ) from err
    try:
        client = RedisHook(redis_conn_id).get_conn()
    except Exception as err:  # AirflowNotFoundException, or a malformed connection
        raise LipsValidationError(
            f"Connection {lips_conn_id!r}: extra {REDIS_CONN_EXTRA!r} names Redis connection {redis_conn_id!r}, "
            f"which cannot be used: {type(err).__name__}: {err}. Create it (conn_type 'redis', host, port, extra "
            f'{{"db": N}}) or remove the extra to use the machine-local budget.'
        ) from err
    kwargs: dict[str, Any] = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    kwargs.setdefault("socket_connect_timeout", REDIS_TIMEOUT)
    kwargs.setdefault("socket_timeout", REDIS_TIMEOUT)
    where = f"Redis connection {redis_conn_id!r} ({kwargs.get('host')}:{kwargs.get('port')}, db {kwargs.get('db') or 0})"
    return client, where


def open_rate_budget(
    *,
    lips_conn_id: str,
    base_url: str,
    token: str,
    requests_per_second: float,
    redis_conn_id: str | None = None,
    folder: Path | None = None,
) -> SharedRateBudget:
    """The budget for these credentials, connected and checked, before the first request.

    With ``redis_conn_id`` it lives in that Redis; otherwise in ``folder`` (default:
    :func:`default_folder`) on this machine.
    """
    key = credentials_key(base_url, token)
    rate = budget_rate(requests_per_second)
    store: BudgetStore
    if redis_conn_id:
        client, where = redis_client(redis_conn_id, lips_conn_id)
        store = RedisStore(
            client,
            key,
            rate,
            f"{where}, named by extra {REDIS_CONN_EXTRA!r} of LIPS connection {lips_conn_id!r}",
            f"Start that Redis or correct connection {redis_conn_id!r} (host, port, password, extra 'db'), or "
            f"remove {REDIS_CONN_EXTRA!r} to share the budget only among this machine's processes; Airflow's "
            f"task retries will try again.",
        )
    else:
        store = MachineStore(folder or default_folder(), key, rate)
    return SharedRateBudget(store, RateLimiter(requests_per_second))
