"""What ``/contact_interactions/totals`` can vouch for, in either of the shapes it is answered in.

The vendor documents a nested body, ``{"totals": {"events", "call_events", "form_events",
"chat_events", "booking_events", "lsa_events"}, "unread": {...}, "channel": {...}}``; older
deployments answer the counts flat, at the top level. Either way the counts partition the
listing by type (five of them) and, nested, by channel. A pull's completeness check compares
its walk with the count that matches its filters; where no count does (FPD and the other
types without a count, the form sub-types, phone numbers, types and channels together),
the pull records that it is not checkable instead of failing a correct pull. Whether
``totals.events`` counts FPD events is not documented, so a walk is accepted when it
agrees with either reading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_lips.client.query import ContactInteractionFilters
from airflow_provider_lips.exceptions import LipsResponseError

__all__ = ["COUNTED_TYPES", "TotalsCheck", "TotalsUnavailable", "totals_check"]

# Event types with their own count in the documented totals.
COUNTED_TYPES = ("call", "form", "chat", "booking", "lsa")


class TotalsUnavailable(LipsResponseError):
    """The totals body has no count for what the pull filtered by: the walk cannot be checked."""


@dataclass(frozen=True)
class TotalsCheck:
    """Which count of a totals body a query's walk must match, or why none can.

    ``keys`` are summed: ``("events",)``, ``("call_events", "form_events")`` or channel keys
    (``("channel.search",)``). An empty ``keys`` means not checkable, for ``reason``.
    """

    keys: tuple[str, ...] = ()
    reason: str = ""

    @property
    def checkable(self) -> bool:
        return bool(self.keys)

    @property
    def label(self) -> str:
        """What the manifest says was compared: ``totals.events``, ``call_events+form_events``..."""
        return "+".join(self.keys) if self.keys != ("events",) else "totals.events"

    def count(self, body: Any, where: str) -> int:
        """The matching count in ``body``, nested or flat; extra keys are ignored.

        :raises TotalsUnavailable: the body has no such count (a flat body has no channels).
        :raises LipsResponseError: the body is not an object, lacks ``events`` or holds a count that is not one.
        """
        if not isinstance(body, Mapping):
            raise LipsResponseError(f"{where} answered {json.dumps(body)[:300]!r}, not an object of counts.")
        nested = body.get("totals")
        counts = nested if isinstance(nested, Mapping) else body
        shape = "nested" if isinstance(nested, Mapping) else "flat"
        if "events" not in counts:
            raise LipsResponseError(f"{where} answered without 'events' ({shape} shape): {json.dumps(body)[:300]!r}")
        total = 0
        for key in self.keys:
            group, _, name = key.rpartition(".")
            source = body.get(group) if group else counts
            if not isinstance(source, Mapping) or name not in source:
                raise TotalsUnavailable(f"{where} answered ({shape} shape) without a count {key!r}")
            value = source[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LipsResponseError(f"{where} answered {key!r} = {value!r}, not a count: {json.dumps(body)[:300]!r}")
            total += value
        return total

    def agrees(self, count: int, distinct: int, fpd: int) -> bool:
        """Whether a walk that saw ``distinct`` records (``fpd`` of them FPD events) matches ``count``."""
        return distinct == count or (self.keys == ("events",) and fpd > 0 and distinct - fpd == count)


def totals_check(filters: ContactInteractionFilters) -> TotalsCheck:
    """The comparison a pull with ``filters`` can make against the documented totals."""
    if filters.phone_numbers:
        return TotalsCheck(reason=(
            "totals has no count per phone number, and whether it applies event_params[phone_numbers] "
            "is not documented"
        ))
    types, channels = filters.event_types, filters.channels
    if types and channels:
        return TotalsCheck(reason="totals counts types and channels separately, not their combination")
    if types:
        uncounted = sorted(set(types) - set(COUNTED_TYPES))
        if uncounted:
            return TotalsCheck(reason=(
                f"totals has no count for event type(s) {', '.join(uncounted)} "
                f"(it counts {', '.join(COUNTED_TYPES)})"
            ))
        return TotalsCheck(keys=tuple(f"{event_type}_events" for event_type in types))
    if channels:
        return TotalsCheck(keys=tuple(f"channel.{channel}" for channel in channels))
    return TotalsCheck(keys=("events",))
