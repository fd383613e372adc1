"""LipsContactInteractionsOperator: every LIPS contact interaction of a time window, to XCom or object storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_lips.endpoints import CONTACT_INTERACTIONS
from airflow_provider_lips.operators.base import LipsListOperator
from airflow_provider_lips.query import ContactInteractionFilters


class LipsContactInteractionsOperator(LipsListOperator):
    """Pull every LIPS contact interaction with ``window_start <= occurred_at < window_end``.

    Everything but the filters below is :class:`~airflow_provider_lips.operators.base.LipsListOperator`'s.

    :param phone_numbers: only contacts with these E.164 numbers.
    :param event_types: e.g. ``["call", "form"]``.
    :param channels: e.g. ``["search"]``.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
