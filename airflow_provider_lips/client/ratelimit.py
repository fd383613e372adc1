"""A thread-safe pacer that every request of a task draws from.

LIPS allows 20 requests/s per client and answers 429 beyond it. Pacing requests evenly,
instead of letting a burst through and backing off afterwards, keeps the server's
one-second windows under the limit; a 429 pauses every thread, not only the one that got it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Spacing stretched by 5 %: jitter between granting a slot and the server logging the request
# must not push the server's view of one second over the limit.
DEFAULT_HEADROOM = 0.05


class RateLimiter:
    """Grant at most ``requests_per_second`` slots in any one-second window, evenly spaced.

    ``headroom`` stretches the spacing a little (5 % by default) so that jitter between
    the moment a slot is granted and the moment the server logs the request cannot push
    the server's view of one second over the limit.
    """

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        headroom: float = DEFAULT_HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive, or None for no limit")
        self._interval = (1.0 + headroom) / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._next_slot, self._paused_until)
                self._next_slot = slot + self._interval
            if slot > now:
                self._sleep(slot - now)
            with self._lock:
                # A pause that began while we slept applies to us too.
                if self._clock() >= self._paused_until:
                    return

    def pause(self, seconds: float, *, hinted: bool = True) -> bool:
        """Hold every caller for ``seconds`` (the server said 429, with or without naming the wait): True."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        return True
