"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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
