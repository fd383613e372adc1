"""One rate budget for every request on a set of LIPS credentials, across processes and machines.

LIPS allows 20 requests/s per credentials, not per task: every task, worker and machine using
one token shares them. :class:`SharedRateBudget` puts a pyrate-limiter bucket in front of every
request, stored where every process on those credentials sees it:

- ``machine`` (the default, no set-up): a file-locked SQLite sliding-window log in a per-user folder,
  shared by every process of that user on the machine (LocalExecutor, several task processes,
  ``airflow dags test`` runs side by side);
- ``redis``: GCRA state in a Redis named by the LIPS connection's extra ``rate_limit_redis_conn_id``
  (an Airflow Redis connection), shared by every worker on every machine.

A 429 seen by anyone writes a pause into the same store and everyone waits it out. The
in-process pacer stays inside, so the threads of one task still space their requests evenly.
The budget is keyed by a hash of base URL and token; the token itself is never stored. When
the store cannot be reached, requests stop with :class:`LipsRateBudgetError` rather than fall
back to unshared pacing, which would break the vendor's limit for everyone on the token.
"""

from __future__ import annotations

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

from pyrate_limiter import GCRA, AbstractBucket, Rate, RateItem, RedisStateStore, SQLiteBucket, StateBucket

from airflow_provider_lips.exceptions import LipsRateBudgetError, LipsValidationError
from airflow_provider_lips.ratelimit import DEFAULT_HEADROOM, RateLimiter

if TYPE_CHECKING:
    from redis import Redis

FOLDER_ENV = "LIPS_RATE_BUDGET_DIR"
REDIS_CONN_EXTRA = "rate_limit_redis_conn_id"
REDIS_KEY_PREFIX = "airflow-provider-lips:rate-budget"
REDIS_IDLE_TTL_MS = 600_000  # an unused budget's state goes after 10 minutes
REDIS_TIMEOUT = 5.0  # seconds: a Redis that stops answering fails the pull instead of hanging it
_TIDY_EVERY = 64  # draws between trims of the bucket's expired entries


def credentials_key(base_url: str, token: str) -> str:
    """The budget's name: a hash of base URL and token, so that neither is stored in clear."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{token}".encode()).hexdigest()[:32]


def budget_rates(requests_per_second: float, headroom: float = DEFAULT_HEADROOM) -> list[Rate]:
    """``requests_per_second`` as sliding windows of whole requests, stretched by ``headroom``.

    The headroom (5 %) absorbs the jitter between the moment a slot is drawn and the moment
    the server counts the request, so the server's view of one second stays under its limit.
    A quarter-window of a quarter of the limit spreads the requests: six processes starting
    at once send 5 requests per 262 ms, not 20 in a burst that the server answers unevenly.
    """
    limit = max(1, math.floor(requests_per_second))
    interval = math.ceil(1000 * limit * (1 + headroom) / requests_per_second)
    rates = [Rate(limit, interval)]
    if limit >= 4:
        quarter = limit // 4
        rates.insert(0, Rate(quarter, interval * quarter // limit))
    return rates


def default_folder() -> Path:
    """Where the machine-local budget lives: ``$LIPS_RATE_BUDGET_DIR``, else the user's cache folder."""
    configured = os.environ.get(FOLDER_ENV)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "airflow-provider-lips" / "rate-budget"


def _now_ms() -> int:
    # Wall clock, as the buckets use: shared between processes (and, with NTP, machines).
    return time.time_ns() // 1_000_000


class BudgetStore(ABC):
    """A pyrate-limiter bucket plus a shared pause, behind one error boundary."""

    bucket: AbstractBucket

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

    def draw(self) -> float:
        """Take one slot: 0 when granted, else the seconds until one may free up."""
        item = RateItem("request", self.bucket.now())
        if self.bucket.put(item):
            return 0.0
        waiting: Any = self.bucket.waiting(item)  # int, or an awaitable for async buckets (not used here)
        return max(int(waiting), 1) / 1000

    def tidy(self) -> None:
        """Drop entries older than the window, so the log stays a second long."""
        self.bucket.leak(self.bucket.now())

    @abstractmethod
    def paused_for(self) -> float:
        """Seconds left of a pause someone on these credentials asked for (0 when none)."""

    @abstractmethod
    def pause(self, seconds: float) -> None:
        """Hold every process on these credentials for ``seconds`` from now (longer pauses win)."""

    @abstractmethod
    def close(self) -> None: ...


class MachineStore(BudgetStore):
    """SQLite in a per-user folder, serialised by a file lock: every process of the user on this machine."""

    def __init__(self, folder: Path, key: str, rates: list[Rate]) -> None:
        path = folder / f"{key}.sqlite"
        super().__init__(
            f"{path} (machine-local, shared by this user's processes on this machine)",
            f"Make {folder} writable, or point ${FOLDER_ENV} at a writable folder; Airflow's task retries will "
            f"try again.",
        )
        with self.guard("opening it"):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.bucket = SQLiteBucket.init_from_file(rates, table="budget", db_path=str(path), use_file_lock=True)
            with self._locked() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS pause (id INTEGER PRIMARY KEY CHECK (id = 0), until_ms INTEGER)")
                conn.commit()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        bucket = self.bucket
        assert isinstance(bucket, SQLiteBucket)
        with bucket.lock:  # the bucket's file lock: other processes wait
            yield bucket.conn

    def draw(self) -> float:
        # The slot's time is read under the file lock: read before it, a process that waited for
        # the lock would log its request too early, and the window would let the next one through early.
        with self._locked():
            return super().draw()

    def paused_for(self) -> float:
        with self._locked() as conn:
            row = conn.execute("SELECT until_ms FROM pause WHERE id = 0").fetchone()
        return max(0, row[0] - _now_ms()) / 1000 if row else 0.0

    def pause(self, seconds: float) -> None:
        until = _now_ms() + math.ceil(seconds * 1000)
        with self._locked() as conn:
            conn.execute(
                "INSERT INTO pause (id, until_ms) VALUES (0, ?) "
                "ON CONFLICT (id) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
                (until,),
            )
            conn.commit()

    def close(self) -> None:
        self.bucket.close()


class RedisStore(BudgetStore):
    """pyrate-limiter's GCRA in Redis (one theoretical arrival time, updated by its Lua script) and a pause key.

    GCRA rather than the sliding log: a slot drawn with a clock reading a process took a moment
    before its script ran can only be stricter, never let a request through early, however
    many processes race; with ``burst=1`` the slots are evenly spaced across all of them.
    """

    def __init__(self, client: Redis, key: str, rates: list[Rate], where: str, fix: str) -> None:
        super().__init__(where, fix)
        self.client = client
        self.key = f"{REDIS_KEY_PREFIX}:{key}"
        self.pause_key = f"{self.key}:pause"
        sustained = max(rates, key=lambda rate: rate.interval)
        with self.guard("connecting (before any request to LIPS)"):
            client.ping()
            self.bucket = StateBucket(
                [Rate(sustained.limit, sustained.interval, burst=1)],
                algorithm=GCRA(),
                store=RedisStateStore(client, self.key, ttl_ms=REDIS_IDLE_TTL_MS),  # an idle budget leaves nothing
            )

    def paused_for(self) -> float:
        ttl: Any = self.client.pttl(self.pause_key)  # redis-py types it int | Awaitable[int]
        left = int(ttl)
        return left / 1000 if left > 0 else 0.0

    def pause(self, seconds: float) -> None:
        wanted = math.ceil(seconds * 1000)
        # Two processes pausing at once ask for about the same end; either one winning is right.
        ttl: Any = self.client.pttl(self.pause_key)
        if int(ttl) < wanted:
            self.client.set(self.pause_key, "429", px=wanted)

    def close(self) -> None:
        self.client.close()


class SharedRateBudget:
    """Draw one slot per request from the shared store, after the in-process pacer spaced it.

    ``acquire()`` and ``pause(seconds)`` are what the requester calls; both raise
    :class:`LipsRateBudgetError` when the store is lost.
    """

    def __init__(self, store: BudgetStore, pacer: RateLimiter, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.pacer = pacer
        self._sleep = sleep
        self._lock = threading.Lock()  # the store's connection is shared by the task's threads
        self._draws = 0

    @property
    def where(self) -> str:
        return self.store.where

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        self.pacer.acquire()
        while True:
            with self._lock, self.store.guard("drawing a request slot"):
                wait = self.store.paused_for()
                if wait <= 0:
                    wait = self.store.draw()
                    if wait <= 0:
                        self._draws += 1
                        if self._draws % _TIDY_EVERY == 1:  # the first draw too: sets the idle expiry
                            self.store.tidy()
                        return
            self._sleep(wait)

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
    rates = budget_rates(requests_per_second)
    store: BudgetStore
    if redis_conn_id:
        client, where = redis_client(redis_conn_id, lips_conn_id)
        store = RedisStore(
            client,
            key,
            rates,
            f"{where}, named by extra {REDIS_CONN_EXTRA!r} of LIPS connection {lips_conn_id!r}",
            f"Start that Redis or correct connection {redis_conn_id!r} (host, port, password, extra 'db'), or "
            f"remove {REDIS_CONN_EXTRA!r} to share the budget only among this machine's processes; Airflow's "
            f"task retries will try again.",
        )
    else:
        store = MachineStore(folder or default_folder(), key, rates)
    return SharedRateBudget(store, RateLimiter(requests_per_second))
