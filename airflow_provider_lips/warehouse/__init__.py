"""Load pulled LIPS files into SQL tables (SQLite, PostgreSQL): the public names of :mod:`.load`."""

from __future__ import annotations

from airflow_provider_lips.warehouse.load import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONTACTS_TABLE,
    DEFAULT_INTERACTIONS_TABLE,
    ON_REMOVED,
    LoadResult,
    check_batch_size,
    check_on_removed,
    check_table_names,
    load_contact_interactions,
    load_contacts,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONTACTS_TABLE",
    "DEFAULT_INTERACTIONS_TABLE",
    "ON_REMOVED",
    "LoadResult",
    "check_batch_size",
    "check_on_removed",
    "check_table_names",
    "load_contact_interactions",
    "load_contacts",
]
