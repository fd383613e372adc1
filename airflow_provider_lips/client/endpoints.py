"""The LIPS listings as values: what the pull engine needs to know about each one.

Adding a listing with the same paging is one :class:`Endpoint` here plus a thin operator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One paged LIPS listing.

    :param name: the plural noun for messages, e.g. ``interactions``.
    :param path: the listing's path under the base URL.
    :param records_key: the key of the record list in each page.
    :param totals_path: a path answering counts for the same filters, or ``None`` when the
        listing has none (the pull then cannot check completeness).
    :param time_field: the record timestamp the pull's half-open window applies to.
    :param filters: the filter arguments (names in
        :class:`~airflow_provider_lips.client.query.ContactInteractionFilters`) the listing accepts.
    """

    name: str
    path: str
    records_key: str
    totals_path: str | None
    time_field: str
    filters: frozenset[str]


CONTACT_INTERACTIONS = Endpoint(
    name="interactions",
    path="/contact_interactions",
    records_key="contact_interactions",
    totals_path="/contact_interactions/totals",
    time_field="occurred_at",
    filters=frozenset(
        {"global_master_advertiser_id", "global_master_campaign_id", "phone_numbers", "event_types", "channels"}
    ),
)

CONTACTS = Endpoint(
    name="contacts",
    path="/contacts",
    records_key="contacts",
    totals_path=None,  # none documented: a contacts pull cannot check completeness
    time_field="created_at",
    filters=frozenset({"global_master_advertiser_id"}),
)
