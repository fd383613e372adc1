"""From a pulled record to the rows of the warehouse tables (typed columns beside the raw JSON).

Each function raises ``ValueError`` or ``TypeError`` on a record it cannot map; the load
turns that into an error naming the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_lips.pull import records as spelling
from airflow_provider_lips.pull.window import parse_timestamp

__all__ = ["contact_row", "interaction_row", "listed_contact_row", "to_json", "version"]

_INTEGER = re.compile(r"[+-]?\d+")
# Keys that may hold the type-specific object; the event type itself is tried first.
_DETAIL_KEYS = ("call", "chat", "form", "booking", "lsa")
# A listed contact without any timestamp is older than every versioned one.
_UNKNOWN_VERSION = datetime(1970, 1, 1, tzinfo=timezone.utc)


def interaction_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """An interaction record's row (without ``loaded_at``, which the load sets)."""
    occurred_at = _timestamp(spelling.occurred_at(record), "occurred_at")
    if occurred_at is None:
        raise ValueError("interaction has no occurred_at")
    contact = record.get("contact")
    contact_id = record.get("contact_id")
    if contact_id is None and isinstance(contact, Mapping):
        contact_id = contact.get("id")
    return {
        "id": _integer(record.get("id"), "id", required=True),
        "contact_id": _integer(contact_id, "contact_id"),
        **{
            name: _text(record.get(name))
            for name in (
                "global_master_advertiser_id",
                "global_master_campaign_id",
                "campaign_name",
                "sub_type",
                "channel",
                "influencing_campaign",
                "display_name",
                "external_source",
                "page_url",
            )
        },
        "event_type": spelling.event_type(record) or _text(record.get("event_type")),
        "refer_type": _text(_first(record, "refer_type", "referrer_type")),
        "refer_source": _text(_first(record, "refer_source", "referrer_source")),
        "occurred_at": occurred_at,
        "created_at": _timestamp(record.get("created_at"), "created_at"),
        "archived_at": _timestamp(record.get("archived_at"), "archived_at"),
        "details": _details(record),
        "raw": record,
    }


def contact_row(record: Mapping[str, Any], interaction: Mapping[str, Any]) -> dict[str, Any] | None:
    """The embedded contact, versioned by its own update time, else by the interaction's."""
    contact = record.get("contact")
    if contact is None:
        return None
    if not isinstance(contact, Mapping):
        raise TypeError(f"contact must be a JSON object, got {type(contact).__name__}")
    contact_id = _integer(contact.get("id"), "contact.id")
    if contact_id is None:
        contact_id = interaction["contact_id"]
    if contact_id is None:
        return None
    row = _contact_fields(contact, contact_id, "contact.")
    row["version_at"] = row["updated_at"] or interaction["created_at"] or interaction["occurred_at"]
    row["version_interaction_id"] = interaction["id"]
    return row


def listed_contact_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/contacts`` record, versioned by its update (else creation) time; no interaction: id 0."""
    row = _contact_fields(record, _integer(record.get("id"), "id", required=True), "")
    row["version_at"] = row["updated_at"] or row["created_at"] or _UNKNOWN_VERSION
    row["version_interaction_id"] = 0
    return row


def version(contact: Mapping[str, Any]) -> tuple[Any, int]:
    """What orders a contact row's versions: the newest wins."""
    return contact["version_at"], contact["version_interaction_id"]


def to_json(value: Any) -> str:
    """Canonical text, so that an unchanged record compares equal on SQLite too."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _contact_fields(contact: Mapping[str, Any], contact_id: int | None, where: str) -> dict[str, Any]:
    """The typed columns and ``raw`` of a contact, wherever it came from."""
    return {
        "id": contact_id,
        **{name: _text(contact.get(name)) for name in ("first_name", "last_name", "email", "company", "title")},
        "phone_numbers": contact.get("phone_numbers"),
        "created_at": _timestamp(contact.get("created_at"), f"{where}created_at"),
        "updated_at": _timestamp(contact.get("updated_at"), f"{where}updated_at"),
        "raw": contact,
    }


def _details(record: Mapping[str, Any]) -> Any:
    """The type-specific object: under the event type's own key, else under a known one."""
    event_type = spelling.event_type(record)
    keys = (event_type, event_type.split("_")[0]) if isinstance(event_type, str) else ()
    for key in (*keys, *_DETAIL_KEYS):
        value = record.get(key)
        if isinstance(value, Mapping):
            return value
    return None


def _first(record: Mapping[str, Any], *keys: str) -> Any:
    return next((record[key] for key in keys if record.get(key) is not None), None)


def _integer(value: Any, field: str, *, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f"{field} must be an integer, got {value!r}")


def _text(value: Any) -> str | None:
    """Text columns take strings as sent; other JSON values keep their JSON spelling."""
    return value if value is None or isinstance(value, str) else to_json(value)


def _timestamp(value: Any, field: str) -> datetime | None:
    """An optional timestamp field: absent or empty is NULL, anything unparsable is an error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO 8601 timestamp, got {value!r}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ValueError(f"{field} must be an ISO 8601 timestamp, got {value!r}") from None
