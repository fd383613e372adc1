"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The vendor: "Rate limit configuration consists of a per second request limit", and past it
# "clients must back off until the end of the current rate limit window".
RATE_LIMIT_WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by total time.

    ``max_attempts`` counts the first try. ``max_elapsed`` caps the seconds one request may
    spend waiting between tries; ``max_wait`` caps a single wait, including a server's
    ``Retry-After``.
    """

    max_attempts: int = 6
    base_wait: float = 0.5
    max_wait: float = 30.0
    max_elapsed: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.base_wait * 2 ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def wait_for(self, attempt: int, retry_after: str | None) -> float:
        """The server's ``Retry-After`` when it gave one, else the backoff; never above ``max_wait``."""
        hinted = parse_retry_after(retry_after)
        wait = hinted if hinted is not None else self.backoff(attempt)
        return min(wait, self.max_wait)

    def wait_after_429(self, attempt: int, retry_after: str | None) -> float:
        """How long every request of the task holds after a 429: the one rule, so a shared budget can reuse it.

        ``Retry-After`` wins when the server sends one. Without it (the documented case) the wait
        lasts until the vendor's current one-second window is over: we know neither its alignment
        nor whether it slides, but one full window after the refusal is past its end either way.
        A request refused again and again waits longer (its backoff), never above ``max_wait``.
        """
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_wait)
        return min(max(RATE_LIMIT_WINDOW_SECONDS, self.backoff(attempt)), max(self.max_wait, RATE_LIMIT_WINDOW_SECONDS))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Read ``Retry-After`` as seconds, in either form HTTP allows (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
