"""Constants shared by the sandbox tests."""

from __future__ import annotations

from datetime import datetime, timezone

SANDBOX_TOKEN = "tok-sandbox-tests"
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = datetime(2026, 10, 15, tzinfo=timezone.utc)
