"""``GET /contacts``: an advertiser's contacts, built from the contacts its interactions embed.

The data generator gives recurring contacts whose details change over time, so a
contact's record here is the newest snapshot any visible interaction of that
advertiser carries (without the fields that belong to the interaction), plus
``global_master_advertiser_id``, ``total_events`` and ``last_event``, as the vendor's
contacts carry. ``start_date``/``end_date`` filter on the contact's ``created_at``
with the same semantics as the interactions' dates on ``occurred_at``; the listing is
ordered ``created_at`` DESC, then ``id`` DESC. No totals endpoint is documented.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lips_sandbox.data import format_timestamp, parse_timestamp
from lips_sandbox.query import Filters
from lips_sandbox.store import InteractionStore, Row

__all__ = ["CONTACTS_PATH", "ContactDirectory", "ContactRow"]

CONTACTS_PATH = "/contacts"
# Keys of an embedded contact that describe the interaction, not the person.
_INTERACTION_KEYS = ("interaction_external_source", "contact_external_source")
_CACHE_LIMIT = 64


@dataclass(frozen=True)
class ContactRow:
    """One served contact: the record, its sort key and its pre-encoded JSON."""

    id: int
    created_ms: int
    record: dict[str, Any]
    body: bytes

    def json(self) -> bytes:
        return self.body


def _contact_id(row: Row) -> int | None:
    contact = row.record.get("contact")
    if not isinstance(contact, dict):
        return None
    found = contact.get("id", row.record.get("contact_id"))
    return found if isinstance(found, int) else None


def _build(rows: Sequence[Row]) -> list[ContactRow]:
    """Every contact of these interactions once, newest snapshot, in listing order."""
    newest: dict[int, tuple[tuple[int, int, int], dict[str, Any], str | None]] = {}
    events: dict[int, int] = {}
    last_event: dict[int, int] = {}
    for row in rows:
        contact_id = _contact_id(row)
        if contact_id is None:
            continue
        contact = row.record["contact"]
        updated = contact.get("updated_at")
        version = (parse_timestamp(updated) if updated else row.created_ms, row.created_ms, row.id)
        if contact_id not in newest or version > newest[contact_id][0]:
            newest[contact_id] = (version, contact, row.advertiser)
        events[contact_id] = events.get(contact_id, 0) + 1
        last_event[contact_id] = max(last_event.get(contact_id, row.occurred_ms), row.occurred_ms)
    result = []
    for contact_id, (_, contact, advertiser) in newest.items():
        created = contact.get("created_at")
        record = {key: value for key, value in contact.items() if key not in _INTERACTION_KEYS}
        record.update(
            id=contact_id,
            global_master_advertiser_id=advertiser,
            total_events=events[contact_id],
            last_event=format_timestamp(last_event[contact_id]),
        )
        body = json.dumps(record).encode()
        result.append(ContactRow(contact_id, parse_timestamp(created) if created else 0, record, body))
    result.sort(key=lambda c: (c.created_ms, c.id), reverse=True)
    return result


class ContactDirectory:
    """The contacts view over an :class:`InteractionStore`, rebuilt whenever the store's data changes."""

    def __init__(self, store: InteractionStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        # (advertisers, as_of) -> (the interaction selection it was built from, the contacts)
        self._cache: dict[tuple[frozenset[str], int | None], tuple[list[Row], list[ContactRow]]] = {}

    def select(self, filters: Filters, as_of_ms: int | None) -> list[ContactRow]:
        """Contacts of ``filters.advertisers`` with ``start_ms <= created_at <= end_ms``, in listing order.

        The sandbox never archives a contact, so ``archived=true`` lists none.
        """
        if filters.archived:
            return []
        interactions = self._store.select(Filters(advertisers=filters.advertisers), as_of_ms)
        key = (filters.advertisers, as_of_ms)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached[0] is not interactions:  # the store made a new selection: data changed
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                cached = self._cache[key] = (interactions, _build(interactions))
        low = filters.start_ms if filters.start_ms is not None else -(2**62)
        high = filters.end_ms if filters.end_ms is not None else 2**62
        return [contact for contact in cached[1] if low <= contact.created_ms <= high]
