"""A record's timestamps as the pull reads them, with one documented rule for those that do not parse.

- The window's field (``occurred_at``, any documented spelling, or ``created_at`` for contacts)
  decides whether a record is kept, so one that is present but unreadable (``"2026-13-45..."``,
  a number) fails the pull with a :class:`~airflow_provider_lips.exceptions.LipsResponseError`
  naming the record's id and the field; guessing would put it in the wrong file or drop it.
  Absent or empty, the record belongs to no window and is counted as outside it, as before.
- ``created_at`` only feeds the lateness statistics (``created_at - occurred_at``): a value that
  is not a readable timestamp string is left out of them, and the record is kept as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_lips.exceptions import LipsResponseError
from airflow_provider_lips.pull import records as spelling
from airflow_provider_lips.pull.window import parse_timestamp

__all__ = ["lateness_seconds", "read_timestamp", "window_moment"]


def read_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 timestamp string as an aware datetime (naive ones are UTC); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        return None


def window_moment(record: Mapping[str, Any], field: str, where: str, *, quote: bool) -> datetime | None:
    """The record's ``field`` (any spelling) as the instant the window is tested against; None when absent.

    :raises LipsResponseError: the field is there but is not a readable timestamp; the message names the record's
        id and the field as spelt, and quotes the value unless ``quote`` is off (a PII policy is on).
    """
    value = spelling.field_value(record, field)
    if value is None:
        return None
    moment = read_timestamp(value)
    if moment is None:
        names = spelling.OCCURRED_FIELDS if field == "occurred_at" else (field,)
        spelt = next((name for name in names if record.get(name) == value), field)
        shown = repr(value)[:80] if quote else f"(a {type(value).__name__}, withheld by the PII policy)"
        raise LipsResponseError(
            f"{where}: record id {record.get('id')!r} has {spelt} = {shown}, not an ISO-8601 timestamp, so it cannot be "
            f"placed in or out of the window; the server sent a record it cannot read. Nothing was written."
        )
    return moment


def lateness_seconds(record: Mapping[str, Any], occurred: datetime) -> float | None:
    """``created_at - occurred_at`` in seconds, or None when ``created_at`` is absent or unreadable (left out)."""
    created = read_timestamp(record.get("created_at"))
    return None if created is None else (created - occurred).total_seconds()
