"""The PII presets as data: which field of each listing's records is kept, dropped or hashed.

A preset is a mapping from field path to action, as a user's own policy is; the presets of
``/contacts`` are those of an interaction's embedded contact, one level up. Each listing also
names the fields a policy must leave alone (:class:`RecordKind`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["ACTIONS", "PRESETS", "Action", "RecordKind", "record_kind"]

Action = Literal["keep", "drop", "hash"]
ACTIONS: tuple[Action, ...] = ("keep", "drop", "hash")


def _table(hashed: Action) -> dict[str, Action]:
    """The field table both presets share; ``hashed`` is what happens to direct identifiers."""
    keep: Action = "keep"
    drop: Action = "drop"
    return {
        "*": drop,  # a field this table does not name, at any level, may hold PII
        # The interaction: ids, timestamps, campaign, channel, type and flags.
        **dict.fromkeys(
            (
                "id", "contact_id", "campaign_id", "campaign_name", "channel", "refer_type", "referrer_type",
                "refer_source", "referrer_source", "influencing_campaign", "created_at", "occurred_at",
                "occured_at", "updated_at", "archived_at", "event_type", "sub_type", "external_source",
                "global_master_advertiser_id", "global_master_campaign_id", "master_advertiser_id",
                "master_campaign_id", "platform_id", "wpc_id", "status", "read", "read_at", "important",
                "important_at",
            ),
            keep,
        ),
        "display_name": hashed,
        "email": hashed,
        "phone_number": hashed,
        **dict.fromkeys(("page_url", "notes", "tags", "call_recording_url", "recording_url"), drop),
        # The embedded contact.
        **dict.fromkeys(
            (
                "contact.id", "contact.created_at", "contact.updated_at", "contact.archived_at", "contact.status",
                "contact.contact_external_source", "contact.interaction_external_source",
                "contact.phone_numbers[].phone_type",
            ),
            keep,
        ),
        **dict.fromkeys(
            (
                "contact.first_name", "contact.last_name", "contact.display_name", "contact.email",
                "contact.phone_numbers[].phone_number", "contact.phone_work", "contact.phone_home",
                "contact.phone_mobile",
            ),
            hashed,
        ),
        **dict.fromkeys(("contact.company", "contact.title", "contact.tags"), drop),
        # Calls.
        **dict.fromkeys(("call.duration", "call.call_duration", "call.answered", "call.occured_at", "call.occurred_at"), keep),
        **dict.fromkeys(("call.caller_number", "call.dialed_number", "call.target_number", "call.tracking_number"), hashed),
        **dict.fromkeys(("call.recording_url", "call.call_recording_url"), drop),
        # Chats: who said it is a display name; what was said is free text.
        **dict.fromkeys(("chat.lead_type", "chat.provider", "chat.transcript[].id", "chat.transcript[].timestamp"), keep),
        "chat.transcript[].from": hashed,
        **dict.fromkeys(("chat.transcript[].message", "chat.summary", "chat.referring_url"), drop),
        # Forms: everything but the sub-type and the conversation id is what the visitor typed.
        **dict.fromkeys(("form.sub_type", "form.conversation_id"), keep),
        **dict.fromkeys(("form.full_message", "form.message", "form.subject", "form.extra_fields", "form.referring_url"), drop),
        # Bookings and Local Services Ads leads: only their ids and kinds.
        **dict.fromkeys(("booking.id", "booking.booking_id", "booking.duration_minutes", "lsa.id", "lsa.lead_type"), keep),
    }


PRESETS: Mapping[str, Mapping[str, Action]] = {
    "pseudonymize": _table("hash"),
    "drop": _table("drop"),
}


@dataclass(frozen=True)
class RecordKind:
    """What a policy must respect for one listing's records.

    ``required``: the pull needs them (dedupe, the window, the load's primary key), so they are
    never dropped or hashed, not even by ``"*": "drop"``, and naming them with another action is
    an error. ``unhashable``: ids and timestamps the load reads as typed values.
    """

    presets: Mapping[str, Mapping[str, Action]]
    required: frozenset[str]
    unhashable: frozenset[str]


def _contact_preset(table: Mapping[str, Action]) -> dict[str, Action]:
    """A ``/contacts`` record is an interaction's embedded contact: the same rules, one level up."""
    return {"*": table["*"], **{path.removeprefix("contact."): a for path, a in table.items() if path.startswith("contact.")}}


# Keyed by the listing's records key (see endpoints.py).
_KINDS: Mapping[str, RecordKind] = {
    "contact_interactions": RecordKind(
        PRESETS,
        frozenset({"id", "occurred_at", "occured_at"}),
        frozenset({"contact_id", "created_at", "archived_at", "contact.id", "contact.created_at", "contact.updated_at"}),
    ),
    "contacts": RecordKind(
        {name: _contact_preset(table) for name, table in PRESETS.items()},
        frozenset({"id"}),
        frozenset({"created_at", "updated_at", "archived_at"}),
    ),
}


# A listing this module does not know: only its id (and its time field) must survive.
_OTHER = RecordKind({}, frozenset({"id"}), frozenset())


def record_kind(records_key: str) -> RecordKind:
    """What a policy must respect for the records of the listing with this records key."""
    return _KINDS.get(records_key, _OTHER)
