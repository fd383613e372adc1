"""One interaction, read the same way whichever of the vendor's documented spellings it arrives in.

LIPS list payloads say ``occurred_at`` and ``"event_type": "call"``; the vendor's field
tables and its CRM payloads spell the field ``occured_at``; its "show" example says
``"event_type": "CallEvent"``. The pull (window, lateness) and the load read records
through these helpers, so both accept every spelling and the raw record stays as sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["OCCURRED_FIELDS", "event_type", "field_value", "occurred_at", "plain_event_type"]

# The documented spelling first: when both are present it wins.
OCCURRED_FIELDS = ("occurred_at", "occured_at")
_SPELLINGS = {"occurred_at": OCCURRED_FIELDS}
_CLASS_STYLE = re.compile(r"(?:[A-Z][a-z0-9]*)+Event")
_WORD = re.compile(r"[A-Z][a-z0-9]*")


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """``record[name]`` under any of its documented spellings; None when absent or empty."""
    for spelt in _SPELLINGS.get(name, (name,)):
        value = record.get(spelt)
        if value is not None and value != "":
            return value
    return None


def occurred_at(record: Mapping[str, Any]) -> Any:
    """The occurrence timestamp as sent (``occurred_at``, else ``occured_at``), or None."""
    return field_value(record, "occurred_at")


def plain_event_type(value: str) -> str:
    """``CallEvent`` -> ``call``, ``ChatSalesEvent`` -> ``chat_sales``; plain names stay as they are."""
    if _CLASS_STYLE.fullmatch(value):
        return "_".join(word.lower() for word in _WORD.findall(value[: -len("Event")]))
    return value


def event_type(record: Mapping[str, Any]) -> str | None:
    """The record's event type in the plain spelling the API's filters use, or None."""
    value = record.get("event_type")
    return plain_event_type(value) if isinstance(value, str) else None
