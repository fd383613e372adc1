"""Operator that loads a pulled file (JSON Lines or Parquet) of LIPS contact interactions into SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow_provider_lips.client.values import parse_flag, whole_or_given
from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.warehouse import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONTACTS_TABLE,
    DEFAULT_INTERACTIONS_TABLE,
    check_batch_size,
    check_on_removed,
    check_table_names,
    load_contact_interactions,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

DEFAULT_SQL_CONN_ID = "lips_warehouse"


class LipsContactInteractionsToSqlOperator(BaseOperator):
    """
    Upsert a pulled file of contact interactions, and their contacts, into SQL tables.

    JSON Lines and Parquet files load alike (the same rows, the same vendor-truth sync); the
    format is told by the file's content.

    The load is idempotent and all-or-nothing per file, so retries and re-runs are safe;
    see :func:`airflow_provider_lips.warehouse.load_contact_interactions`.

    :param source: the file's URI (``file:///...``, ``s3://conn@bucket/key``), an
        ``ObjectStoragePath``, or the pull task's manifest dict, e.g. ``pull_task.output``;
        a manifest's ``records`` count is checked against the file. Templated.
    :param sql_conn_id: a ``sqlite`` or ``postgres`` Airflow connection. Defaults to
        ``lips_warehouse`` so that a deployment defines the warehouse once, by name.
    :param batch_size: rows per ``executemany`` round; bounds memory, not the transaction.
    :param interactions_table: table with one row per interaction id.
    :param contacts_table: table with one row per contact id, newest version kept.
    :param allow_mixed_pii_keys: load a manifest hashed with another PII key (or none) than the
        tables already hold; by default such a load fails before writing anything.
    :param on_removed: what happens to an interaction that a complete pull of its window and
        advertiser no longer finds (neither live nor archived): ``"mark"`` (default) sets its
        ``removed_at``, ``"delete"`` deletes the row. Only a manifest source can do this.
    :return: ``{"uri", "interactions", "contacts", "removed", "contacts_skipped", "sync", "rows"}``
        (pushed to XCom): ``sync`` says whether the load brought the manifest's scope in
        line with the vendor, or why it could not; ``rows`` gives per table the rows
        ``inserted``, ``updated`` and ``unchanged``.
    """

    template_fields: Sequence[str] = ("source",)

    def __init__(
        self,
        *,
        source: str | ObjectStoragePath | Mapping[str, Any],
        sql_conn_id: str = DEFAULT_SQL_CONN_ID,
        batch_size: int = DEFAULT_BATCH_SIZE,
        interactions_table: str = DEFAULT_INTERACTIONS_TABLE,
        contacts_table: str = DEFAULT_CONTACTS_TABLE,
        allow_mixed_pii_keys: bool = False,
        on_removed: str = "mark",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(sql_conn_id, str) or not sql_conn_id.strip():
            raise LipsValidationError(
                f"sql_conn_id must name an Airflow connection, e.g. {DEFAULT_SQL_CONN_ID!r}, got {sql_conn_id!r}"
            )
        check_table_names(interactions_table, contacts_table)
        self.source = source
        self.sql_conn_id = sql_conn_id
        self.batch_size = check_batch_size(whole_or_given(batch_size))
        self.interactions_table = interactions_table
        self.contacts_table = contacts_table
        self.allow_mixed_pii_keys = parse_flag(allow_mixed_pii_keys, "allow_mixed_pii_keys", default=False)
        self.on_removed = check_on_removed(on_removed)

    def execute(self, context: Context) -> dict[str, Any]:
        result = load_contact_interactions(
            self.source,
            self.sql_conn_id,
            batch_size=self.batch_size,
            interactions_table=self.interactions_table,
            contacts_table=self.contacts_table,
            allow_mixed_pii_keys=self.allow_mixed_pii_keys,
            on_removed=self.on_removed,
        )
        return {
            "uri": result.uri,
            "interactions": result.interactions,
            "contacts": result.contacts,
            "removed": result.removed,
            "contacts_skipped": result.contacts_skipped,
            "sync": result.sync,
            "rows": {table: dict(counts) for table, counts in result.rows.items()},
        }
