"""Load a pull's files (JSON Lines or Parquet) of LIPS contact interactions (or contacts) into SQL tables: the public loads.

The load is plain Python around one DB-API connection so that any operator, ``@task``
or script can reuse it. It upserts, so re-running a load (Airflow retries, backfills,
overlapping pull windows) never duplicates rows, and it runs as one transaction per
file, or per day-partitioned manifest, so a bad file leaves the warehouse exactly as it was. Given a complete pull's
manifest, it also marks the interactions the vendor no longer has (:mod:`.sync`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsBadFileError, LipsValidationError
from airflow_provider_lips.warehouse.dialects import Dialect, dialect_of
from airflow_provider_lips.warehouse.pii_guard import PII_KEYS_TABLE, claim_pii_key, pii_key_of
from airflow_provider_lips.warehouse.result import LoadResult
from airflow_provider_lips.warehouse.schema import (
    CONTACT_COLUMNS,
    DEFAULT_CONTACTS_TABLE,
    DEFAULT_INTERACTIONS_TABLE,
    INTERACTION_COLUMNS,
    check_identifier,
    check_table_names,
)
from airflow_provider_lips.warehouse.sources import file_manifests, resolve_source
from airflow_provider_lips.warehouse.sync import SyncScope, sync_scope
from airflow_provider_lips.warehouse.upsert import FileLoader, create_tables, remove_vanished

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ON_REMOVED",
    "check_batch_size",
    "check_on_removed",
    "load_contact_interactions",
    "load_contacts",
]

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
# Times a load is tried when the database ends it to break a deadlock with a concurrent load.
_ATTEMPTS = 3
# What a load does with an interaction a complete pull no longer finds: set removed_at, or delete the row.
ON_REMOVED = ("mark", "delete")


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` if it is a positive int, else raise an error saying how to fix it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LipsValidationError(f"batch_size must be a positive integer such as 1000, got {batch_size!r}")
    return batch_size


def check_on_removed(on_removed: object) -> str:
    """Return ``on_removed`` if it is ``"mark"`` or ``"delete"``, else raise an error saying so."""
    if on_removed not in ON_REMOVED:
        raise LipsValidationError(
            f"on_removed must be 'mark' (set removed_at) or 'delete' (drop the row), got {on_removed!r}"
        )
    return str(on_removed)


def load_contact_interactions(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    interactions_table: str = DEFAULT_INTERACTIONS_TABLE,
    contacts_table: str = DEFAULT_CONTACTS_TABLE,
    allow_mixed_pii_keys: bool = False,
    on_removed: str = "mark",
) -> LoadResult:
    """
    Upsert one file of contact interactions (JSON Lines or Parquet; or every day file of a manifest) and their
    contacts in one transaction.

    An interaction's ``archived_at`` follows the file (archived since the last load: set;
    unarchived: cleared). When ``source`` is the manifest of a pull that was complete, took
    archived interactions too and was not filtered by type, phone or channel, the rows of
    its window and advertiser/campaign scope that the file does not hold are gone at the
    vendor: they get ``removed_at`` (or are deleted), and a later file holding one again
    clears the mark. See :mod:`airflow_provider_lips.warehouse.sync` for the rule.

    :param source: the file as a URI (``file:///...``, ``s3://conn@bucket/key``), an
        ``ObjectStoragePath``, or the pull's manifest ``{"uri": ..., "records": n, ...}``; with a
        manifest the file must hold exactly ``records`` records, so a truncated file fails.
    :param sql_conn_id: Airflow connection of type ``sqlite`` or ``postgres``.
    :param batch_size: rows per ``executemany``; bounds memory, not the transaction.
    :param interactions_table: one row per interaction id; the last load wins.
    :param contacts_table: one row per contact id; the newest version wins, whatever the
        order files are loaded in.
    :param allow_mixed_pii_keys: load a manifest whose PII key (or lack of one) differs from
        what the tables already hold; by default that fails, as the hashes would never match.
    :param on_removed: ``"mark"`` (default: set ``removed_at``, keep the row) or ``"delete"``.
    :raises LipsBadFileError: a bad record or a record count the manifest does not match.
    :raises LipsLoadError: a database error; the message names the file and its lines.
    """
    check_batch_size(batch_size)
    check_table_names(interactions_table, contacts_table)
    check_on_removed(on_removed)
    return _load(
        source, sql_conn_id, interactions_table, contacts_table, batch_size,
        allow_mixed_pii_keys=allow_mixed_pii_keys, on_removed=on_removed,
    )


def load_contacts(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    contacts_table: str = DEFAULT_CONTACTS_TABLE,
    allow_mixed_pii_keys: bool = False,
) -> LoadResult:
    """
    Upsert one file of ``/contacts`` records (``LipsContactsOperator``) in one transaction.

    The rows go into the same table, with the same newest-wins rule, as the contacts embedded
    in interactions: a listed contact's version is its ``updated_at`` (else ``created_at``)
    with ``version_interaction_id`` 0, so an interaction's snapshot of the same moment wins
    the tie, and the result does not depend on which file is loaded first.
    Arguments, manifest check and errors as for :func:`load_contact_interactions`.
    """
    check_batch_size(batch_size)
    check_identifier("contacts_table", contacts_table)
    return _load(source, sql_conn_id, None, contacts_table, batch_size, allow_mixed_pii_keys=allow_mixed_pii_keys)


def _load(
    source: str | ObjectStoragePath | Mapping[str, Any],
    sql_conn_id: str,
    interactions_table: str | None,
    contacts_table: str,
    batch_size: int,
    *,
    allow_mixed_pii_keys: bool,
    on_removed: str = "mark",
) -> LoadResult:
    """Resolve, open and load one file, or every file of a day-partitioned manifest, in one transaction
    on one connection (both public loads end here): an advertiser's pull lands whole or not at all, and
    its day files cost one connection and one lock, not one each.

    ``interactions_table=None`` loads a file of ``/contacts`` records into the contacts table alone.
    """
    if not isinstance(allow_mixed_pii_keys, bool):
        raise LipsValidationError(f"allow_mixed_pii_keys must be True or False, got {allow_mixed_pii_keys!r}")
    several = isinstance(source, Mapping) and "files" in source
    entries = list(file_manifests(source)) if several else [source]  # type: ignore[arg-type]
    # Every source is checked before any work: a bad manifest fails before the connection is looked up.
    files = [
        (resolve_source(entry), pii_key_of(entry), (None, "") if interactions_table is None else sync_scope(entry))
        for entry in entries
    ]
    hook = _get_hook(sql_conn_id)
    dialect = dialect_of(hook, sql_conn_id)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            results, removed = _transaction(
                hook, dialect, files, interactions_table, contacts_table, batch_size,
                allow_mixed_pii_keys=allow_mixed_pii_keys, on_removed=on_removed,
            )
            break
        except Exception as exc:
            # Loads of different advertisers run side by side; two whose contacts overlap can deadlock, and the
            # database then ends one of them, which rolled back whole: load it again.
            if attempt == _ATTEMPTS or not dialect.deadlocked(exc):
                raise
            log.warning("The load deadlocked with a concurrent load and was rolled back (attempt %d of %d); "
                        "loading again: %s", attempt, _ATTEMPTS, exc)
    result = results[0] if not several else LoadResult.combine(str(source.get("destination", "")), results)  # type: ignore[union-attr]
    return replace(result, removed=removed)


def _transaction(
    hook: DbApiHook,
    dialect: Dialect,
    files: list[tuple[tuple[Any, str, int | None], str | None, tuple[SyncScope | None, str]]],
    interactions_table: str | None,
    contacts_table: str,
    batch_size: int,
    *,
    allow_mixed_pii_keys: bool,
    on_removed: str,
) -> tuple[list[LoadResult], int]:
    """Load ``files`` in one transaction on a fresh connection; each file's result, and how many rows the sync
    removed."""
    tables = (contacts_table,) if interactions_table is None else (interactions_table, contacts_table)
    pii_keys = {pii_key: uri for (_, uri, _), pii_key, _ in files if pii_key}  # each key with its first file
    advertisers = _advertisers(files) if interactions_table is not None else ()
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        dialect.begin(conn, cursor)
        if advertisers and _rows_only(cursor, dialect, tables, pii_keys, allow_mixed=allow_mixed_pii_keys):
            dialect.lock(cursor, (*tables, PII_KEYS_TABLE), [f"{interactions_table}:{a}" for a in advertisers])
        else:
            dialect.lock(cursor, (*tables, PII_KEYS_TABLE) if pii_keys else tables)
            # Once per transaction, not per file: the tables, and each PII key (a manifest's files share one).
            create_tables(cursor, dialect, interactions_table, contacts_table)
            for pii_key, uri in pii_keys.items():
                claim_pii_key(cursor, dialect, tables, pii_key, uri, allow_mixed=allow_mixed_pii_keys)
        loaded = [
            _load_file(*resolved, scope, cursor, dialect, interactions_table, contacts_table, batch_size)
            for resolved, _, scope in files
        ]
        removed = 0
        if interactions_table is not None:
            synced = [(scope, kept) for (*_, (scope, _)), (_, kept) in zip(files, loaded, strict=True) if scope is not None]
            removed = remove_vanished(cursor, dialect, interactions_table, synced, on_removed=on_removed, batch_size=batch_size)
            if synced:
                log.info("Vendor truth: %s; %d interactions %s.", "; ".join(s.describe() for s, _ in synced), removed,
                         "deleted" if on_removed == "delete" else "marked removed")
        conn.commit()
    except BaseException:
        # If the connection itself broke, closing it below rolls back all the same.
        with suppress(Exception):
            conn.rollback()
        raise
    finally:
        conn.close()
    return [result for result, _ in loaded], removed


def _advertisers(files: list[tuple[Any, str | None, tuple[SyncScope | None, str]]]) -> tuple[str, ...]:
    """The advertisers whose rows alone the files write and sync, or () when that is not known of every file
    (a bare URI, a partial pull, a campaign-only scope)."""
    scopes = [scope for *_, (scope, _) in files]
    if not scopes or any(scope is None or not scope.advertisers for scope in scopes):
        return ()
    return tuple(sorted({advertiser for scope in scopes if scope is not None for advertiser in scope.advertisers}))


def _rows_only(cursor: Any, dialect: Dialect, tables: tuple[str, ...], pii_keys: Mapping[str, str], *,
               allow_mixed: bool) -> bool:
    """Whether the load has nothing to create or claim: every table, column and index exists, and the tables
    already carry exactly the load's PII key. Only then may it lock just its advertisers' rows (a schema once
    complete stays so, and a claim once made stays made)."""
    interactions_table, contacts_table = tables
    wanted = {f"{interactions_table}_occurred_at_idx", f"{interactions_table}_gmaid_occurred_at_idx"}
    if (
        not {c.name for c in INTERACTION_COLUMNS} <= dialect.columns(cursor, interactions_table)
        or not {c.name for c in CONTACT_COLUMNS} <= dialect.columns(cursor, contacts_table)
        or not wanted <= dialect.indexes(cursor, interactions_table)
    ):
        return False
    if not pii_keys:
        return True
    if not dialect.columns(cursor, PII_KEYS_TABLE):
        return False
    mark = dialect.placeholder
    cursor.execute(
        f"SELECT table_name, key_fingerprint FROM {PII_KEYS_TABLE} WHERE table_name IN ({', '.join(mark for _ in tables)})",  # noqa: S608
        tables,
    )
    claimed = {(table, key) for table, key in cursor.fetchall()}
    needed = {(table, key) for table in tables for key in pii_keys}
    return needed <= claimed and (allow_mixed or claimed <= needed)


def _load_file(
    path: Any,
    uri: str,
    expected_records: int | None,
    sync: tuple[SyncScope | None, str],
    cursor: Any,
    dialect: Dialect,
    interactions_table: str | None,
    contacts_table: str,
    batch_size: int,
) -> tuple[LoadResult, set[int]]:
    """Load one resolved file through the open transaction of :func:`_load`; with it the interaction ids it holds
    (which :func:`_load` syncs the file's scope against, once for all files of the same advertisers)."""
    scope, sync_note = sync
    loader = FileLoader(
        dialect,
        uri,
        interactions_table,
        contacts_table,
        batch_size,
        scope=scope,
        sync_note=sync_note,
    )
    started = time.monotonic()
    with path.open("rb") as handle:
        result = loader.load(cursor, handle)
        if expected_records is not None and result.records != expected_records:
            raise LipsBadFileError(
                f"{uri}: the manifest promises {expected_records} records but the file has "
                f"{result.records}; the file is incomplete or was replaced"
            )
    log.info(
        "Loaded %s into %s: %d records, %d interactions into %s, %d contacts into %s in %.1f s; rows %s",
        uri,
        dialect.name,
        result.records,
        result.interactions,
        interactions_table or "-",
        result.contacts,
        contacts_table,
        time.monotonic() - started,
        result.describe_rows(),
    )
    if result.contacts_skipped:
        log.warning(
            "%d interactions of %s embed a contact without an id (and have no contact_id): the interactions are "
            "loaded, their contacts are not.",
            result.contacts_skipped,
            uri,
        )
    return result, loader.kept


def _get_hook(sql_conn_id: str) -> DbApiHook:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(sql_conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise LipsValidationError(
            f"sql_conn_id {sql_conn_id!r} gives a {type(hook).__name__}, not a SQL (common-sql "
            "DbApiHook) hook; point it at a sqlite or postgres connection"
        )
    return hook

