"""The Parquet lake's schema: typed columns for the documented fields, every other field kept as JSON.

Readers (DuckDB, Trino, Spark, warehouses' external tables) rely on column names and types
staying put, so the schema is declared once here, versioned, and pinned by a fingerprint: a
change to :data:`FIELDS` without a new :data:`SCHEMA_VERSION` (and fingerprint) fails the tests.

How a record maps to a row, at every level (the record, ``contact``, each per-type object,
each phone number and transcript line):

- a field the schema names, sent under one of its spellings, fills its typed column
  (class-style event types such as ``CallEvent`` arrive as ``call``);
- ``extra_json`` holds, as a JSON object, every field the schema does not name, and every
  named field whose value the typed column cannot reproduce exactly as sent (an explicit
  ``null``, a timestamp with an offset, another spelling, a value of another type); the
  typed column still holds what could be read from it.

A record is therefore rebuilt losslessly as "the non-null typed columns not overridden in
``extra_json``, then the keys of ``extra_json``" (:func:`airflow_provider_lips.output.parquet.read_records`);
only the order of keys inside an object is not kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["EXTRA", "FIELDS", "SCHEMA_FINGERPRINT", "SCHEMA_VERSION", "Field", "describe", "fingerprint"]

# Bump with every change to FIELDS, and pin the new fingerprint beside it (the test prints it).
SCHEMA_VERSION = 1
SCHEMA_FINGERPRINT = "612f4983da8996a8"

# The column, at every level, holding the fields the typed columns do not reproduce.
EXTRA = "extra_json"

Kind = Literal["int64", "string", "bool", "timestamp", "event_type", "struct", "list"]


@dataclass(frozen=True)
class Field:
    """One column: its name (the documented spelling), type and the vendor's other spellings.

    ``struct`` fields have ``children``; ``list`` fields are lists of structs with ``children``
    as the element's fields. Every struct also gets an ``extra_json`` column.
    """

    name: str
    kind: Kind
    doc: str
    spellings: tuple[str, ...] = ()
    children: tuple[Field, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every key this column is read from, the documented one first (it wins when both are sent)."""
        return (self.name, *self.spellings)


def _text(name: str, doc: str, *spellings: str) -> Field:
    return Field(name, "string", doc, spellings)


_PHONE = (
    _text("phone_type", "mobile, work, home, ..."),
    _text("phone_number", "E.164 as sent, extensions included (`+19893643647 x241`)"),
)
_TRANSCRIPT_LINE = (
    Field("id", "int64", "line id"),
    Field("timestamp", "timestamp", "when the line was written"),
    _text("from", "visitor or agent"),
    _text("message", "the line's text"),
)

FIELDS: tuple[Field, ...] = (
    Field("id", "int64", "interaction id, the primary key"),
    Field("contact_id", "int64", "the contact's id"),
    _text("campaign_name", "campaign name"),
    _text("channel", "search, display, social, chat, other, none"),
    _text("refer_type", "PAID, ORGANIC, ...", "referrer_type"),
    _text("refer_source", "referring site", "referrer_source"),
    _text("influencing_campaign", "influencing campaign"),
    Field("created_at", "timestamp", "when LIPS ingested the interaction"),
    Field("occurred_at", "timestamp", "when the interaction happened (the partition's day)", ("occured_at",)),
    _text("display_name", "the contact's display name"),
    Field("event_type", "event_type", "call, form, chat, booking, ... (class-style `CallEvent` arrives as `call`)"),
    _text("external_source", "capture, fpd, yardi, lsa, ..."),
    _text("global_master_advertiser_id", "gmaid, e.g. USA_1"),
    _text("global_master_campaign_id", "gmcid, e.g. USA_3115232"),
    Field("master_advertiser_id", "int64", "master advertiser id"),
    Field("master_campaign_id", "int64", "master campaign id"),
    _text("platform_id", "platform id"),
    _text("sub_type", "inbound, missed, contact_form, ..."),
    _text("page_url", "page the interaction came from"),
    Field("archived_at", "timestamp", "when it was archived; null when live"),
    Field("read", "bool", "read flag"),
    Field("important", "bool", "important flag"),
    _text("notes", "notes"),
    Field(
        "call",
        "struct",
        "the call object of a call",
        children=(
            _text("recording_url", "the call's recording", "call_recording_url"),
            Field("duration", "int64", "seconds", ("call_duration",)),
            _text("caller_number", "caller"),
            _text("dialed_number", "number dialed"),
            _text("target_number", "number the call was forwarded to"),
        ),
    ),
    Field(
        "chat",
        "struct",
        "the chat object of a chat",
        children=(
            _text("lead_type", "lead type"),
            _text("provider", "chat provider"),
            _text("referring_url", "referring URL"),
            Field("transcript", "list", "the transcript's lines", children=_TRANSCRIPT_LINE),
        ),
    ),
    Field(
        "form",
        "struct",
        "the form object of a form post",
        children=(
            _text("referring_url", "referring URL"),
            _text("full_message", "the whole message"),
            _text("message", "the message"),
            _text("conversation_id", "conversation id"),
        ),
    ),
    Field("booking", "struct", "the booking object of a booking (fields not documented: all in extra_json)"),
    Field("lsa", "struct", "the Local Services Ads object (fields not documented: all in extra_json)"),
    Field(
        "contact",
        "struct",
        "the contact as embedded when the interaction was created",
        children=(
            Field("id", "int64", "contact id"),
            _text("first_name", "first name"),
            _text("last_name", "last name"),
            _text("display_name", "display name"),
            _text("email", "e-mail"),
            _text("company", "company"),
            _text("title", "title"),
            Field("phone_numbers", "list", "the contact's numbers", children=_PHONE),
            Field("created_at", "timestamp", "when the contact was created"),
            Field("updated_at", "timestamp", "when the contact last changed"),
        ),
    ),
)


def describe(fields: tuple[Field, ...] = FIELDS, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(column path, type, other spellings, meaning) of every column, ``extra_json`` included, in order."""
    rows: list[tuple[str, str, str, str]] = []
    for field in fields:
        path = f"{prefix}{field.name}"
        kind = {
            "timestamp": "timestamp[ms, UTC]",
            "event_type": "string",
            "struct": "struct",
            "list": "list<struct>",
        }.get(field.kind, field.kind)
        rows.append((path, kind, ", ".join(field.spellings), field.doc))
        if field.kind in ("struct", "list"):
            rows += describe(field.children, f"{path}{'[]' if field.kind == 'list' else ''}.")
    rows.append((f"{prefix}{EXTRA}", "string (JSON object)", "", "fields the typed columns do not reproduce as sent"))
    return rows


def fingerprint(fields: tuple[Field, ...] = FIELDS) -> str:
    """A short hash of the column paths, types and spellings: what readers depend on."""
    text = "\n".join("|".join(row[:3]) for row in describe(fields))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
