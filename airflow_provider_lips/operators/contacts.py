"""LipsContactsOperator: an advertiser's LIPS contacts created in a time window, to XCom or object storage."""

from __future__ import annotations

from airflow_provider_lips.client.endpoints import CONTACTS
from airflow_provider_lips.operators.base import LipsListOperator


class LipsContactsOperator(LipsListOperator):
    """Pull every contact of ``global_master_advertiser_id`` with ``window_start <= created_at < window_end``.

    Everything (window, lookback, destination, manifest, XCom cap) is
    :class:`~airflow_provider_lips.operators.base.LipsListOperator`'s; ``/contacts`` has no
    totals, so ``completeness`` cannot be checked and is off. Load the file into
    ``lips_contacts`` with :func:`airflow_provider_lips.warehouse.load_contacts`.
    """

    endpoint = CONTACTS
    ui_color = "#f5e3c4"
