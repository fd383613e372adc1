"""LipsContactInteractionsOperator: every LIPS contact interaction of a time window, to XCom or object storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.client.values import parse_flag
from airflow_provider_lips.operators.base import LipsListOperator


class LipsContactInteractionsOperator(LipsListOperator):
    """Pull every LIPS contact interaction with ``window_start <= occurred_at < window_end``.

    Everything but the filters below is :class:`~airflow_provider_lips.operators.base.LipsListOperator`'s.

    :param phone_numbers: only contacts with these E.164 numbers.
    :param event_types: e.g. ``["call", "form"]``.
    :param channels: e.g. ``["search"]``.
    :param include_archived: also pull the window's archived interactions (``archived=true``)
        into the same file, with their ``archived_at``; the manifest counts both. A load can
        keep the warehouse equal to the vendor's truth (archived, unarchived, deleted) only
        from such a complete pull. Default ``False``; the daily DAG turns it on.
    """

    endpoint = CONTACT_INTERACTIONS
    template_fields: Sequence[str] = (*LipsListOperator.template_fields, "phone_numbers", "event_types", "channels")
    ui_color = "#f5d6a8"

    def __init__(
        self,
        *,
        phone_numbers: str | list[str] | None = None,
        event_types: list[str] | None = None,
        channels: list[str] | None = None,
        include_archived: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.include_archived = parse_flag(include_archived, "include_archived", default=False)
        self.phone_numbers = phone_numbers
        self.event_types = event_types
        self.channels = channels

    def build_filters(self) -> ContactInteractionFilters:
        return ContactInteractionFilters.from_values(
            global_master_advertiser_id=self.global_master_advertiser_id,
            global_master_campaign_id=self.global_master_campaign_id,
            phone_numbers=self.phone_numbers,
            event_types=self.event_types,
            channels=self.channels,
        )
