"""The warehouse tables: their columns and the names a user may give them.

One spec per table drives the DDL, the upsert statement and parameter binding, so that
they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from airflow_provider_lips.exceptions import LipsValidationError

__all__ = [
    "CONTACT_COLUMNS",
    "DEFAULT_CONTACTS_TABLE",
    "DEFAULT_INTERACTIONS_TABLE",
    "INTERACTION_COLUMNS",
    "Column",
    "ColumnKind",
    "check_identifier",
    "check_table_names",
]

DEFAULT_INTERACTIONS_TABLE = "lips_contact_interactions"
DEFAULT_CONTACTS_TABLE = "lips_contacts"

# Unquoted identifiers only: they cannot inject SQL and mean the same table on every
# dialect. 47 characters leaves room for the derived index name in PostgreSQL's 63.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,46}")

ColumnKind = Literal["bigint", "text", "timestamp", "json"]


@dataclass(frozen=True)
class Column:
    """One column of a warehouse table; each dialect maps ``kind`` to its own type."""

    name: str
    kind: ColumnKind
    not_null: bool = False


# "id" is the primary key; "loaded_at" is when the load that last changed the row ran;
# ("version_at", "version_interaction_id") orders contact versions, the interaction id
# breaking ties so the result does not depend on load order.
INTERACTION_COLUMNS: tuple[Column, ...] = (
    Column("id", "bigint", not_null=True),
    Column("contact_id", "bigint"),
    Column("global_master_advertiser_id", "text"),
    Column("global_master_campaign_id", "text"),
    Column("campaign_name", "text"),
    Column("event_type", "text"),
    Column("sub_type", "text"),
    Column("channel", "text"),
    Column("refer_type", "text"),
    Column("refer_source", "text"),
    Column("influencing_campaign", "text"),
    Column("display_name", "text"),
    Column("external_source", "text"),
    Column("page_url", "text"),
    Column("occurred_at", "timestamp", not_null=True),
    Column("created_at", "timestamp"),
    Column("archived_at", "timestamp"),
    Column("removed_at", "timestamp"),  # set when a complete pull of its window no longer finds it
    Column("details", "json"),
    Column("raw", "json", not_null=True),
    Column("loaded_at", "timestamp", not_null=True),
)
CONTACT_COLUMNS: tuple[Column, ...] = (
    Column("id", "bigint", not_null=True),
    Column("first_name", "text"),
    Column("last_name", "text"),
    Column("email", "text"),
    Column("company", "text"),
    Column("title", "text"),
    Column("phone_numbers", "json"),
    Column("created_at", "timestamp"),
    Column("updated_at", "timestamp"),
    Column("version_at", "timestamp", not_null=True),
    Column("version_interaction_id", "bigint", not_null=True),
    Column("raw", "json", not_null=True),
    Column("loaded_at", "timestamp", not_null=True),
)


def check_table_names(interactions_table: str, contacts_table: str) -> None:
    """Reject table names that are not plain SQL identifiers, as they are put into SQL text."""
    check_identifier("interactions_table", interactions_table)
    check_identifier("contacts_table", contacts_table)
    if interactions_table.lower() == contacts_table.lower():
        raise LipsValidationError(f"interactions_table and contacts_table must differ, both are {interactions_table!r}")


def check_identifier(parameter: str, value: object) -> None:
    """Reject a ``parameter`` value that is not a plain SQL identifier (it is put into SQL text)."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise LipsValidationError(
            f"{parameter} must be a plain SQL identifier (letters, digits, underscores, "
            f"not starting with a digit, at most 47 characters), got {value!r}"
        )
