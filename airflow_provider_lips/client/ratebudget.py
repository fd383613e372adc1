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
never the schedule, so many processes together keep the whole rate. Right before it is sent, a
request is also counted in a shared log of actual sends (:class:`SendWindow`: at most 20 in any
1,060 ms at 20/s): a request sent late after its slot would otherwise crowd the server's second
twenty slots later, so the log holds that later request back instead of letting it draw a 429.
A 429 seen by anyone writes a pause into the same store and everyone waits it out, unless the
server named no wait and the log explains the 429 (see :meth:`SharedRateBudget.pause`). The in-process pacer stays inside, so
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
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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


# The send log's check-and-record, atomic in Redis: drop sends older than the window, refuse while
# ``limit`` remain (answering when the oldest of them leaves), else record this one.
_REDIS_ADMIT = """
local key, now, span, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
local held = redis.call('ZCARD', key)
if held >= limit then
    local oldest = redis.call('ZRANGE', key, held - limit, held - limit, 'WITHSCORES')
    return math.max(tonumber(oldest[2]) + span - now, 1)
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, ARGV[5])
return 0
"""


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


class SendWindow(NamedTuple):
    """At most ``limit`` sends in any ``span_ms``, counted when each request is actually sent."""

    limit: int
    span_ms: int


def send_window(requests_per_second: float, rate: Rate, headroom: float = DEFAULT_HEADROOM) -> SendWindow:
    """The server's one-second window, as many slots of ``rate`` long: at 20/s, 20 sends in any 1,060 ms.

    The schedule alone spaces *slots*; a process that wakes late sends after its slot, closer to
    the next ones, and twenty slots later the server's second would hold 21. Counting actual sends
    holds that twenty-first request until the late one's window is over, so lateness costs its
    own time, never a 429 (and the 60 ms the window has over a second still absorb arrival jitter).
    At most the second stretched by ``headroom`` plus one slot: slots are whole milliseconds, so
    above 530/s each counts twice its length, and at 1,000,000/s (a limit that is no limit) the
    log would keep 1,000 s of sends.
    """
    limit = max(1, math.floor(requests_per_second))
    return SendWindow(limit, min(limit * rate.interval, math.ceil(1000 * (1 + headroom)) + rate.interval))


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
            # No fsync: the file holds a schedule, a send log and a pause that are all over within seconds, so
            # durability buys nothing, while every WAL checkpoint (under the flock, and at the close of the last
            # connection, at the end of a task) waited for the disk: up to 0.9 s on a busy machine (measured).
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("CREATE TABLE IF NOT EXISTS gcra (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT)")
            self.conn.execute("CREATE TABLE IF NOT EXISTS pause (id INTEGER PRIMARY KEY CHECK (id = 0), until_ms INTEGER)")
            self.conn.execute("CREATE TABLE IF NOT EXISTS sends (at_ms INTEGER NOT NULL)")
            # Each send prunes the log and reads its newest entries: by the index, not a sort of every row.
            self.conn.execute("CREATE INDEX IF NOT EXISTS sends_at_ms ON sends (at_ms)")

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
    def admit(self, now_ms: int, window: SendWindow) -> int:
        """Record a send at ``now_ms`` when ``window`` allows it (0), else the ms until it may."""

    @abstractmethod
    def sends_within(self, now_ms: int, span_ms: int) -> int:
        """How many sends the log holds in the ``span_ms`` before ``now_ms``."""

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

    def admit(self, now_ms: int, window: SendWindow) -> int:
        with self.state.locked() as conn:
            conn.execute("DELETE FROM sends WHERE at_ms <= ?", (now_ms - window.span_ms,))
            row = conn.execute(
                "SELECT at_ms FROM sends ORDER BY at_ms DESC LIMIT 1 OFFSET ?", (window.limit - 1,)
            ).fetchone()
            if row is not None:
                return max(int(row[0]) + window.span_ms - now_ms, 1)
            conn.execute("INSERT INTO sends (at_ms) VALUES (?)", (now_ms,))
            return 0

    def sends_within(self, now_ms: int, span_ms: int) -> int:
        row = self.state.conn.execute("SELECT count(*) FROM sends WHERE at_ms > ?", (now_ms - span_ms,)).fetchone()
        return int(row[0])

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
        self.sends_key = f"{self.key}:sends"
        with self.guard("connecting (before any request to LIPS)"):
            client.ping()
            self.bucket = StateBucket(
                [rate],
                algorithm=GCRA(),
                store=RedisStateStore(client, self.key, ttl_ms=REDIS_IDLE_TTL_MS),  # an idle budget leaves nothing
            )
            self._admit = client.register_script(_REDIS_ADMIT)

    def admit(self, now_ms: int, window: SendWindow) -> int:
        member = f"{now_ms}:{secrets.token_hex(4)}"  # two sends in one ms are two members
        wait: Any = self._admit(keys=[self.sends_key], args=[now_ms, window.span_ms, window.limit, member, REDIS_IDLE_TTL_MS])
        return int(wait)

    def sends_within(self, now_ms: int, span_ms: int) -> int:
        count: Any = self.client.zcount(self.sends_key, f"({now_ms - span_ms}", "+inf")
        return int(count)

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

    def __init__(
        self,
        store: BudgetStore,
        pacer: RateLimiter,
        *,
        window: SendWindow | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.pacer = pacer
        self.window = window  # None: slots only (no send log)
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
            if wait > 0:
                self._sleep(wait / 1000)
                with self._lock, self.store.guard("checking for a 429 pause"):
                    resume = self.store.paused_until_ms()
                if resume > _now_ms():
                    earliest = resume  # a 429 came while we slept: our slot is void, take one after the pause
                    continue
            resume = self._admit()
            if resume == 0:
                return
            earliest = resume

    def _admit(self) -> int:
        """Wait until the send window has room and record the send, right before it goes: 0.

        Or, when a 429 pause began meanwhile, the end of that pause (the send is not recorded).
        """
        while self.window is not None:
            with self._lock, self.store.guard("recording a send"):
                wait = self.store.admit(_now_ms(), self.window)
            if wait == 0:
                break
            self._sleep(wait / 1000)
            with self._lock, self.store.guard("checking for a 429 pause"):
                resume = self.store.paused_until_ms()
            if resume > _now_ms():
                return resume
        return 0

    def _reserve(self, slot: int) -> int:
        """The first free slot at or after ``slot`` (and after any pause), now ours."""
        while True:
            with self._lock, self.store.guard("drawing a request slot"):
                slot = max(slot, self.store.paused_until_ms())
                later = self.store.reserve(slot)
            if later == 0:
                return slot
            slot += later

    def pause(self, seconds: float, *, hinted: bool = True) -> bool:
        """The server said 429: hold every process on these credentials for ``seconds`` (True).

        Unless the server named no wait (``hinted`` false) and our own sends explain the 429: the
        log holds a full window of them, so the server's window frees as ours does, and the send
        window already holds the next request until then. One request arriving a little late
        then costs its own retry, not a second of everyone's. A 429 the log does not explain
        (someone else on the token, a lowered limit, a fixed window) holds everyone ``seconds``.
        False: the 429 was the budget's own near miss, and the refused request may go again as soon
        as the send window lets it (its next :meth:`acquire`).
        """
        if not hinted and self.window is not None:
            with self._lock, self.store.guard("reading the send log"):
                held = self.store.sends_within(_now_ms(), self.window.span_ms)
            if held >= max(self.window.limit - 1, 2):  # the refused request itself is one of them
                return False
        self.pacer.pause(seconds)
        with self._lock, self.store.guard("recording a 429 pause"):
            self.store.pause(seconds)
        return True

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
    return SharedRateBudget(store, RateLimiter(requests_per_second), window=send_window(requests_per_second, rate))
