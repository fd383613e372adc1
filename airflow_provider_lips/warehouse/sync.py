"""Which warehouse rows a pull's file speaks for: the rule that keeps the warehouse equal to the vendor's truth.

The vendor's users archive, unarchive and delete interactions at any time. A file that holds
every live *and* archived interaction of a window, for an advertiser or campaign, and that
the pull proved complete against ``/contact_interactions/totals``, tells the whole truth
about that window and scope: an interaction of the warehouse inside both that the file does
not hold no longer exists at the vendor. Any other file (a bare URI, a pull without its
archived interactions, filtered by event type, phone number or channel, or not verified
complete) speaks only for what it holds, and the load never removes anything for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pull.window import TimeWindow

__all__ = ["NARROWING_FILTERS", "SyncScope", "sync_scope"]

# Filters that leave interactions of the window out of the file on purpose.
NARROWING_FILTERS = ("event_types", "phone_numbers", "channels")


@dataclass(frozen=True)
class SyncScope:
    """Rows with ``start <= occurred_at < end`` of these advertisers and campaigns (empty: any)."""

    start: datetime
    end: datetime
    advertisers: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()

    def describe(self) -> str:
        who = [f"advertiser {', '.join(self.advertisers)}"] if self.advertisers else []
        who += [f"campaign {', '.join(self.campaigns)}"] if self.campaigns else []
        return f"{' and '.join(who)}, {self.start.isoformat()} <= occurred_at < {self.end.isoformat()}"


def sync_scope(source: Any) -> tuple[SyncScope | None, str]:
    """The scope a load may bring in line with the vendor, or None with the reason it may not.

    ``source`` is what the load was given. Only a pull's manifest can open a scope, and only
    when it says ``complete: true`` and ``include_archived: true``, names no narrowing filter,
    and gives ``window_start``/``window_end`` (the effective window, lookback included) and
    the ``filters`` it pulled. A manifest describing one of several files of a pull (one per
    day, say) must give that file's own part of the window there.
    """
    if not isinstance(source, Mapping):
        return None, "the source is a file, not a pull's manifest: only a manifest says what the file is complete for"
    if source.get("complete") is not True:
        return None, "the manifest does not say the pull was verified complete (see its 'completeness')"
    if source.get("include_archived") is not True:
        return None, (
            "the pull left archived interactions out (include_archived=False), so a missing one may be archived "
            "rather than deleted"
        )
    filters = source.get("filters")
    if not isinstance(filters, Mapping):
        return None, "the manifest names no 'filters'"
    narrowing = [name for name in NARROWING_FILTERS if filters.get(name)]
    if narrowing:
        return None, f"the pull was filtered by {', '.join(narrowing)}, so the file holds only part of the window"
    advertisers = _names(filters.get("global_master_advertiser_id"))
    campaigns = _names(filters.get("global_master_campaign_id"))
    if not advertisers and not campaigns:
        return None, "the manifest's filters name no advertiser or campaign"
    try:
        window = TimeWindow.from_values(source.get("window_start"), source.get("window_end"))
    except LipsValidationError as err:
        return None, f"the manifest has no usable window ({err})"
    return SyncScope(window.start, window.end, advertisers, campaigns), "synced"


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value if item)
    return ()
