"""The sandbox's interaction store, built to serve hundreds of pages a second.

Records stay sorted the way LIPS returns them (``occurred_at`` DESC, then
``id`` DESC), all of them and each advertiser's apart, so a date window is a bisect
and an advertiser's listing reads only its own records (a thousand advertisers' data
cost a scan of all of them per query before); the filtered result is
cached per distinct filter (until data changes), and each record's JSON is
encoded once, so a page body is a join of cached bytes.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from typing import Any

from lips_sandbox.data import format_timestamp, gc_paused, parse_timestamp
from lips_sandbox.query import Filters
from lips_sandbox.shapes import CANONICAL, Presentation, present, totals_body

__all__ = ["InteractionStore", "Row"]

_CACHE_LIMIT = 512
_encode = json.JSONEncoder(check_circular=False).encode  # records are trees: skip the cycle check


class Row:
    """One stored record plus the fields filters need, extracted once."""

    __slots__ = (
        "advertiser",
        "archived",
        "body",
        "body_style",
        "campaign",
        "channel",
        "created_ms",
        "event_type",
        "id",
        "occurred_ms",
        "phones",
        "record",
        "sort_key",
    )

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.id: int = record["id"]
        self.occurred_ms = parse_timestamp(record["occurred_at"])
        self.created_ms = parse_timestamp(record["created_at"])
        self.advertiser: str | None = record.get("global_master_advertiser_id")
        self.campaign: str | None = record.get("global_master_campaign_id")
        self.event_type: str | None = record.get("event_type")
        self.channel: str | None = record.get("channel")
        contact = record.get("contact") or {}
        self.phones = frozenset(entry.get("phone_number") for entry in contact.get("phone_numbers") or ())
        self.archived = record.get("archived_at") is not None
        self.body: bytes | None = None
        self.body_style: Presentation | None = None
        self.sort_key = (-self.occurred_ms, -self.id)  # ascending key for occurred_at DESC, id DESC

    def json(self, style: Presentation = CANONICAL) -> bytes:
        """The record's JSON as served under ``style``, encoded on first use and kept for that style.

        Encoding 200k records up front costs seconds; styles change between tests, not between pages.
        """
        body = self.body
        if body is None or self.body_style != style:
            body = _encode(present(self.record, style)).encode()
            self.body, self.body_style = body, style
        return body


class _Ordered:
    """Rows in LIPS order beside their sort keys: a date window is two bisects."""

    __slots__ = ("keys", "rows")

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.keys = [row.sort_key for row in rows]

    def add(self, row: Row) -> None:
        index = bisect_left(self.keys, row.sort_key)
        self.keys.insert(index, row.sort_key)
        self.rows.insert(index, row)

    def remove(self, row: Row) -> None:
        index = bisect_left(self.keys, row.sort_key)
        del self.keys[index], self.rows[index]

    def window(self, filters: Filters) -> list[Row]:
        low = 0 if filters.end_ms is None else bisect_left(self.keys, (-filters.end_ms,))
        high = len(self.rows) if filters.start_ms is None else bisect_left(self.keys, (1 - filters.start_ms,))
        return self.rows[low:high]


class InteractionStore:
    """Thread-safe sorted records with a per-filter result cache."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        with gc_paused():  # hundreds of thousands of new objects: no point letting the GC rescan them
            rows = [Row(record) for record in records]
            self._by_id = {row.id: row for row in rows}
            if len(self._by_id) != len(rows):
                raise ValueError("interaction ids must be unique")
            rows.sort(key=lambda row: row.sort_key)
            self._all = _Ordered(rows)
            grouped: dict[str | None, list[Row]] = {}
            for row in rows:
                grouped.setdefault(row.advertiser, []).append(row)
            self._by_advertiser = {advertiser: _Ordered(own) for advertiser, own in grouped.items()}
            self._owner = {row.campaign: row.advertiser for row in rows}
        self._cache: dict[tuple[Filters, int | None], list[Row]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._all.rows)

    def records(self) -> list[dict[str, Any]]:
        """The stored dicts in LIPS order; live objects, so treat them as read-only."""
        with self._lock:
            return [row.record for row in self._all.rows]

    def encode_all(self, style: Presentation = CANONICAL) -> None:
        """Encode every record's JSON now rather than on first serve."""
        with self._lock:
            rows = list(self._all.rows)
        with gc_paused():
            for row in rows:
                row.json(style)

    def latest_created_ms(self) -> int:
        """The newest ``created_at``: the data's own notion of "now"."""
        with self._lock:
            return max((row.created_ms for row in self._all.rows), default=0)

    def has(self, interaction_id: int) -> bool:
        with self._lock:
            return interaction_id in self._by_id

    def max_id(self) -> int:
        with self._lock:
            return max(self._by_id, default=0)

    def advertiser_of(self, campaign: str) -> str | None:
        """The gmaid owning a gmcid, as seen in the data (for 403 on campaign-only requests)."""
        return self._owner.get(campaign)

    def select(self, filters: Filters, as_of_ms: int | None) -> list[Row]:
        """Matching rows in LIPS order; cached, so callers must not modify the list."""
        key = (filters, as_of_ms)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                cached = self._cache[key] = self._scan(filters, as_of_ms)
            return cached

    def _scan(self, filters: Filters, as_of_ms: int | None) -> list[Row]:
        advertisers, campaigns, phones = filters.advertisers, filters.campaigns, filters.phones
        if advertisers:  # each advertiser's own rows: no advertiser check left to make
            owned = (self._by_advertiser[gmaid] for gmaid in advertisers if gmaid in self._by_advertiser)
            candidates = [row for own in owned for row in own.window(filters)]
            if len(advertisers) > 1:
                candidates.sort(key=lambda row: row.sort_key)
        else:
            candidates = self._all.window(filters)
        event_types, channels, archived = filters.event_types, filters.channels, filters.archived
        return [
            row
            for row in candidates
            if row.archived is archived
            and (as_of_ms is None or row.created_ms <= as_of_ms)
            and (not campaigns or row.campaign in campaigns)
            and (not event_types or row.event_type in event_types)
            and (not channels or row.channel in channels)
            and (not phones or not phones.isdisjoint(row.phones))
        ]

    @staticmethod
    def totals(rows: list[Row], shape: str = "nested", *, count_fpd: bool = True) -> dict[str, Any]:
        """The ``/contact_interactions/totals`` body for a selection, nested (documented) or flat (older)."""
        return totals_body((row.record for row in rows), shape, count_fpd=count_fpd)

    def insert(self, record: dict[str, Any]) -> None:
        """Add a record (a copy); its id must be new."""
        row = Row(dict(record))
        with self._lock:
            if row.id in self._by_id:
                raise ValueError(f"interaction {row.id} already exists")
            self._all.add(row)
            self._by_advertiser.setdefault(row.advertiser, _Ordered([])).add(row)
            self._by_id[row.id] = row
            self._owner.setdefault(row.campaign, row.advertiser)
            self._cache.clear()

    def archive(self, interaction_id: int, at_ms: int) -> None:
        """Set ``archived_at``: the record leaves default listings and shows with ``archived=true``."""
        self._set_archived_at(interaction_id, format_timestamp(at_ms))

    def unarchive(self, interaction_id: int) -> None:
        """Clear ``archived_at``: the record is live again."""
        self._set_archived_at(interaction_id, None)

    def delete(self, interaction_id: int) -> None:
        """Remove the record: neither live nor archived listings show it any more."""
        with self._lock:
            row = self._by_id.pop(self._known(interaction_id))
            self._all.remove(row)
            self._by_advertiser[row.advertiser].remove(row)
            self._cache.clear()

    def _set_archived_at(self, interaction_id: int, archived_at: str | None) -> None:
        with self._lock:
            row = self._by_id[self._known(interaction_id)]
            row.record = {**row.record, "archived_at": archived_at}  # copy: the caller's dict stays as given
            row.archived = archived_at is not None
            row.body = None
            self._cache.clear()

    def _known(self, interaction_id: int) -> int:
        if interaction_id not in self._by_id:
            raise KeyError(f"no interaction {interaction_id}")
        return interaction_id
