"""How the sandbox spells what it serves: the vendor's documented shapes and the variants seen beside them.

The store keeps every record in one canonical form (plain event types, ``occurred_at``,
UTC ``Z`` timestamps, contacts with ids); a :class:`Presentation` rewrites a record the
way a given deployment of LIPS (or the vendor's own examples) would send it, so every
variant a client must accept can be served over real HTTP from the same data.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from lips_sandbox.data import parse_timestamp

__all__ = [
    "CANONICAL",
    "CHANNELS",
    "TOTALS_SHAPES",
    "TOTALS_TYPES",
    "Presentation",
    "class_style",
    "present",
    "totals_body",
]

TOTALS_SHAPES = ("nested", "flat")
# The per-type counts the vendor's nested totals carry (no fpd, no form sub-types).
TOTALS_TYPES = ("call", "form", "chat", "booking", "lsa")
CHANNELS = ("display", "search", "social", "chat", "other", "none")
_TIMESTAMP_FIELDS = ("occurred_at", "created_at", "archived_at", "updated_at")
_CONTACT_TIMESTAMP_FIELDS = ("created_at", "updated_at")
# Knuth's multiplicative hash: a stable, well-spread bucket per id for the fractional switches.
_SPREAD = 2_654_435_761


class Presentation(NamedTuple):
    """The spelling switches of :class:`~lips_sandbox.settings.SandboxSettings`.

    The default value is the canonical form, served unchanged.
    """

    event_type_style: str = "plain"  # "plain" (call) or "class" (CallEvent)
    occurred_field: str = "occurred_at"  # or "occured_at", the spelling of the vendor's field tables
    contacts_without_id: float = 0.0  # fraction of interactions whose contact has no id and no contact_id
    phone_extensions: float = 0.0  # fraction of interactions whose contact's numbers carry " x<ext>"
    timestamp_offset_hours: float | None = None  # None: "...Z"; else that fixed UTC offset ("-08:00")


CANONICAL = Presentation()


def class_style(event_type: str) -> str:
    """``call`` -> ``CallEvent``, ``chat_sales`` -> ``ChatSalesEvent``: the vendor's "show" example."""
    return "".join(part.capitalize() for part in event_type.split("_")) + "Event"


def _number(interaction_id: Any) -> int:
    """A stable integer for an id (``hash`` of a string changes between processes)."""
    if isinstance(interaction_id, int):
        return interaction_id
    return zlib.crc32(str(interaction_id).encode())


def _chosen(interaction_id: Any, fraction: float, salt: int) -> bool:
    """Whether a fractional switch applies to this interaction: deterministic and independent per switch."""
    if fraction <= 0:
        return False
    if fraction >= 1:
        return True
    bucket = ((_number(interaction_id) + salt) * _SPREAD) % 2**32
    return bucket < fraction * 2**32


def _offset_text(value: Any, zone: timezone) -> Any:
    """An ISO timestamp re-expressed at ``zone`` with milliseconds, e.g. ``2026-10-01T04:00:00.000-08:00``."""
    if not isinstance(value, str) or not value:
        return value
    moment = datetime.fromtimestamp(parse_timestamp(value) / 1000, zone)
    return moment.isoformat(timespec="milliseconds")


def present(record: dict[str, Any], style: Presentation) -> dict[str, Any]:
    """``record`` as served under ``style``; the canonical style returns the record itself."""
    if style == CANONICAL:
        return record
    served = dict(record)
    contact = dict(served["contact"]) if isinstance(served.get("contact"), dict) else None
    if style.event_type_style == "class" and isinstance(served.get("event_type"), str):
        served["event_type"] = class_style(served["event_type"])
    if style.timestamp_offset_hours is not None:
        zone = timezone(timedelta(hours=style.timestamp_offset_hours))
        for name in _TIMESTAMP_FIELDS:
            if name in served:
                served[name] = _offset_text(served[name], zone)
        if contact is not None:
            for name in _CONTACT_TIMESTAMP_FIELDS:
                if name in contact:
                    contact[name] = _offset_text(contact[name], zone)
    if style.occurred_field != "occurred_at" and "occurred_at" in served:
        # Same position in the object, other spelling.
        served = {(style.occurred_field if key == "occurred_at" else key): value for key, value in served.items()}
    interaction_id = record.get("id")
    if contact is not None and _chosen(interaction_id, style.phone_extensions, 1):
        contact["phone_numbers"] = [
            {**entry, "phone_number": f"{entry.get('phone_number')} x{200 + _number(interaction_id) % 800}"}
            for entry in contact.get("phone_numbers") or ()
        ]
    if _chosen(interaction_id, style.contacts_without_id, 2):
        served.pop("contact_id", None)
        if contact is not None:
            contact.pop("id", None)
    if contact is not None:
        served["contact"] = contact
    return served


def _counts(event_types: Counter[str], total: int) -> dict[str, int]:
    return {"events": total, **{f"{name}_events": event_types[name] for name in TOTALS_TYPES}}


def totals_body(records: Iterable[dict[str, Any]], shape: str, *, count_fpd: bool = True) -> dict[str, Any]:
    """The ``/contact_interactions/totals`` body for a selection of canonical records.

    ``nested`` is the vendor's documented shape (``totals``, ``unread``, ``channel``);
    ``flat`` is the older one: ``events`` and ``<type>_events`` for every type present,
    at the top level. Whether ``events`` counts FPD events is not documented:
    ``count_fpd=False`` leaves them out.
    """
    everything: Counter[str] = Counter()
    unread: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    total = unread_total = 0
    for record in records:
        event_type = str(record.get("event_type") or "")
        if event_type == "fpd" and not count_fpd:
            continue
        everything[event_type] += 1
        total += 1
        if not record.get("read"):
            unread[event_type] += 1
            unread_total += 1
        channels[str(record.get("channel") or "none")] += 1
    if shape == "flat":
        present_types = sorted({"call", "form", "chat", "booking"} | {t for t in everything if t})
        return {"events": total, **{f"{name}_events": everything[name] for name in present_types}}
    return {
        "totals": _counts(everything, total),
        "unread": _counts(unread, unread_total),
        "channel": {name: channels[name] for name in CHANNELS},
    }
