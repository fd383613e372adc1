"""Load pulled LIPS files into SQL tables (SQLite, PostgreSQL).

The modules, one job each: :mod:`.load` (the public loads), :mod:`.sources` (which files a
source names, and their records), :mod:`.rows` (record to row), :mod:`.schema` (tables and
columns), :mod:`.dialects` (each database's SQL), :mod:`.upsert` (one file into the tables),
:mod:`.pii_guard` (no mixing of PII keys), :mod:`.sync` (which rows a complete pull speaks for)
and :mod:`.result` (what a load wrote).
"""

from __future__ import annotations

from airflow_provider_lips.warehouse.load import (
    DEFAULT_BATCH_SIZE,
    ON_REMOVED,
    check_batch_size,
    check_on_removed,
    load_contact_interactions,
    load_contacts,
)
from airflow_provider_lips.warehouse.result import LoadResult
from airflow_provider_lips.warehouse.schema import DEFAULT_CONTACTS_TABLE, DEFAULT_INTERACTIONS_TABLE, check_table_names

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
