"""Deterministic synthetic LIPS contact interactions.

The sandbox, the tests and the benchmark all need realistic data without
reaching the vendor: recurring contacts whose details change over time,
late-arriving records (``created_at`` days after ``occurred_at``), every
documented field plus an undocumented one, all reproducible from one seed.
"""

from __future__ import annotations

import gc
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

__all__ = ["format_timestamp", "gc_paused", "generate_interactions", "parse_timestamp", "to_ms", "with_long_transcripts"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000

_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Wei", "Ashley",
    "Luis", "Emily", "Kevin", "Donna", "Brian", "Michelle", "Priya", "Carol", "Ahmed", "Amanda",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores", "Eligio",
)  # fmt: skip
_COMPANY_WORDS = (
    "Acme", "Summit", "Blue Ridge", "Lakeside", "Pioneer", "Evergreen", "Harbor", "Redwood", "Keystone",
    "Silver Oak", "Granite", "Prairie", "Coastal", "Northstar", "Maple", "Liberty", "Sunrise", "Cedar",
)  # fmt: skip
_COMPANY_KINDS = (
    "Plumbing", "Dental", "Roofing", "Realty", "Auto Repair", "Law Group", "HVAC", "Veterinary Clinic",
    "Landscaping", "Apartments", "Family Medicine", "Fitness", "Insurance", "Electric", "Bakery",
)  # fmt: skip
_TITLES = (
    None, None, None, "Owner", "Office Manager", "Homeowner", "Director", "Property Manager", "Buyer",
    "Operations Lead", "CFO", "Tenant",
)  # fmt: skip
_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "hotmail.com")
_REFER_SOURCES = ("google.com", "bing.com", "facebook.com", "yelp.com", "instagram.com", "direct", "PAID")
_EXTERNAL_SOURCES = ("capture", "capture", "capture", "fpd", "yardi", "lsa")
_PHONE_TYPES = ("mobile", "work", "home")
_CHAT_LINES = (
    "Hi, do you have availability this week?",
    "What are your prices for a first visit?",
    "Can someone call me back this afternoon?",
    "Are you open on Saturdays?",
    "I need a quote for my house.",
    "Thanks, that works for me.",
)
_FORM_MESSAGES = (
    "Please call me about an estimate.",
    "Interested in your spring special.",
    "Do you accept new patients?",
    "Looking for a two-bedroom unit.",
    "Need help as soon as possible.",
)
_SUB_TYPES = {
    "call": ("inbound", "inbound", "missed"),
    "form": ("contact_form", "quote_request"),
    "chat": ("sales", "service"),
    "booking": ("appointment",),
}
_PAGES = ("/", "/contact", "/services", "/specials", "/book-now", "/about")


def _table(weights: Sequence[tuple[T, int]]) -> tuple[T, ...]:
    """Expand (value, weight) pairs into a lookup table: one index beats random.choices per draw."""
    return tuple(value for value, weight in weights for _ in range(weight))


_EVENT_TYPES = _table((("call", 9), ("form", 6), ("chat", 4), ("booking", 1)))
_CHANNELS = _table((("search", 8), ("display", 3), ("social", 3), ("chat", 2), ("other", 1), ("none", 1)))
_REFER_TYPES = _table((("PAID", 5), ("ORGANIC", 3), ("UNKNOWN", 2), ("DIRECT", 1)))


def format_timestamp(ms: int) -> str:
    """Render epoch milliseconds the way LIPS does: ``2021-09-06T16:16:08.000Z``."""
    day, rest = divmod(ms, _DAY_MS)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day_prefix(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    """``YYYY-MM-DD`` of an epoch day number; cached because records share few days."""
    return (_EPOCH + timedelta(days=day)).date().isoformat()


def parse_timestamp(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 timestamp (``Z`` or offset; naive means UTC)."""
    return to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a datetime; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: it would rescan hundreds of thousands of fresh long-lived dicts, repeatedly."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Rng(random.Random):
    """Random with cheap draws: ``choice``/``randrange`` cost several times more per call."""

    def pick(self, options: Sequence[T]) -> T:
        """One element, uniformly."""
        return options[int(self.random() * len(options))]

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high)``, uniformly."""
        return low + int(self.random() * (high - low))

    def uuid4(self) -> str:
        """A version-4 style UUID string from this generator (``uuid.uuid4`` is not seedable)."""
        digits = f"{self.getrandbits(128):032x}"
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{digits[16:20]}-{digits[20:]}"


class _Contact:
    """One contact: a base snapshot and, for some, a revised snapshot from ``revised_ms`` on."""

    __slots__ = ("base", "revised", "revised_ms")

    def __init__(self, base: dict[str, Any], revised: dict[str, Any] | None, revised_ms: int) -> None:
        self.base = base
        self.revised = revised
        self.revised_ms = revised_ms

    def snapshot(self, at_ms: int) -> dict[str, Any]:
        """The contact as LIPS would embed it in an interaction created at ``at_ms``."""
        if self.revised is not None and at_ms >= self.revised_ms:
            return self.revised
        return self.base


def _phone(rng: _Rng) -> str:
    """A plausible North American E.164 number (area and exchange never start with 0/1)."""
    return f"+1{rng.between(201, 990)}{rng.between(200, 1000)}{rng.between(0, 10000):04d}"


def _make_contacts(rng: _Rng, count: int, start_ms: int, end_ms: int, first_id: int) -> list[_Contact]:
    """Contacts of one advertiser; about a third change title/email/phones during the window."""
    contacts = []
    for offset in range(count):
        first, last = rng.pick(_FIRST_NAMES), rng.pick(_LAST_NAMES)
        has_email = rng.random() < 0.7
        company = f"{rng.pick(_COMPANY_WORDS)} {rng.pick(_COMPANY_KINDS)}" if rng.random() < 0.4 else None
        created_ms = start_ms - rng.between(0, _DAY_MS * 90)
        base: dict[str, Any] = {
            "id": first_id + offset,
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}{rng.between(1, 100)}@{rng.pick(_MAIL_DOMAINS)}".lower() if has_email else None,
            "company": company,
            "title": rng.pick(_TITLES),
            "phone_numbers": [{"phone_type": rng.pick(_PHONE_TYPES), "phone_number": _phone(rng)}],
            "created_at": format_timestamp(created_ms),
            "updated_at": format_timestamp(created_ms),
        }
        revised = None
        revised_ms = 0
        if rng.random() < 0.35:
            revised_ms = rng.between(start_ms, end_ms)
            revised = dict(base)
            revised["title"] = rng.pick(_TITLES[3:])
            revised["email"] = f"{first}.{last}@{rng.pick(_MAIL_DOMAINS)}".lower()
            revised["phone_numbers"] = [
                *base["phone_numbers"],
                {"phone_type": rng.pick(_PHONE_TYPES), "phone_number": _phone(rng)},
            ]
            revised["updated_at"] = format_timestamp(revised_ms)
        contacts.append(_Contact(base, revised, revised_ms))
    return contacts


def _lateness_ms(rng: _Rng, hours_late_fraction: float, late_fraction: float, max_late_days: float) -> int:
    """created_at - occurred_at: mostly minutes, some hours, a long tail of days."""
    draw = rng.random()
    if draw < late_fraction:
        return rng.between(_DAY_MS, max(_DAY_MS + 1, int(max_late_days * _DAY_MS)))
    if draw < late_fraction + hours_late_fraction:
        return rng.between(_HOUR_MS, _DAY_MS)
    return rng.between(5_000, _HOUR_MS)


def _details(rng: _Rng, event_type: str, contact: dict[str, Any], phone: str, tracking: str) -> dict[str, Any]:
    """The type-specific object (``call``/``form``/``chat``/``booking``) of one interaction."""
    if event_type == "call":
        duration = rng.between(0, 900)
        return {
            "duration": duration,
            "recording_url": f"https://recordings.lips.example/{rng.getrandbits(48):012x}.mp3" if duration else None,
            "caller_number": phone,
            "tracking_number": tracking,
            "answered": duration > 0,
        }
    if event_type == "form":
        return {
            "fields": {
                "name": f"{contact['first_name']} {contact['last_name']}",
                "email": contact["email"],
                "phone": phone,
                "message": rng.pick(_FORM_MESSAGES),
            }
        }
    if event_type == "chat":
        lines = rng.between(2, 5)
        return {
            "transcript": [
                {"from": "visitor" if turn % 2 == 0 else "agent", "message": rng.pick(_CHAT_LINES)}
                for turn in range(lines)
            ]
        }
    return {"service": rng.pick(_COMPANY_KINDS), "duration_minutes": rng.pick((30, 45, 60))}


class _Campaign(NamedTuple):
    """A campaign and what its interactions share."""

    gmaid: str
    gmcid: str
    name: str
    lead_name: str  # the advertiser's main campaign, used as ``influencing_campaign``
    site: str
    tracking_number: str


def _make_campaigns(rng: _Rng, gmaid: str, count: int) -> list[_Campaign]:
    """``count`` campaigns of one advertiser's business, each with its own tracking number."""
    business = f"{rng.pick(_COMPANY_WORDS)} {rng.pick(_COMPANY_KINDS)}"
    site = "www." + business.lower().replace(" ", "") + ".com"
    kinds = ("Search", "Display", "Social", "Retargeting")
    names = [f"{business} {kinds[n] if n < len(kinds) else f'Campaign {n + 1}'}" for n in range(count)]
    return [
        _Campaign(gmaid, f"USA_{rng.between(1_000_000, 10_000_000)}", name, names[0], site, _phone(rng))
        for name in names
    ]


def _interaction(
    rng: _Rng, interaction_id: int, created_ms: int, occurred_ms: int, campaign: _Campaign, person: _Contact
) -> dict[str, Any]:
    """One interaction record, with the contact as it looked when the interaction was created."""
    contact = person.snapshot(created_ms)
    event_type = rng.pick(_EVENT_TYPES)
    phone = contact["phone_numbers"][0]["phone_number"]
    source = rng.pick(_EXTERNAL_SOURCES)
    return {
        "id": interaction_id,
        "contact_id": contact["id"],
        "campaign_name": campaign.name,
        "channel": "chat" if event_type == "chat" else rng.pick(_CHANNELS),
        "refer_type": rng.pick(_REFER_TYPES),
        "refer_source": rng.pick(_REFER_SOURCES),
        "influencing_campaign": campaign.lead_name if rng.random() < 0.1 else "",
        "created_at": format_timestamp(created_ms),
        "occurred_at": format_timestamp(occurred_ms),
        "display_name": (
            f"{contact['first_name']} {contact['last_name']}" if rng.random() < 0.85 else contact["email"] or phone
        ),
        "event_type": event_type,
        "external_source": source,
        "global_master_advertiser_id": campaign.gmaid,
        "global_master_campaign_id": campaign.gmcid,
        "sub_type": rng.pick(_SUB_TYPES[event_type]),
        "page_url": f"https://{campaign.site}{rng.pick(_PAGES)}",
        "archived_at": None,
        event_type: _details(rng, event_type, contact, phone, campaign.tracking_number),
        "lead_score": int(rng.random() * 101),  # undocumented: clients must keep fields they do not know
        "contact": {
            **contact,
            "phone_numbers": [dict(number) for number in contact["phone_numbers"]],
            "contact_external_source": rng.uuid4(),
            "interaction_external_source": source,
        },
    }


def generate_interactions(
    seed: int,
    count: int,
    start: datetime,
    end: datetime,
    advertisers: Sequence[str] = ("USA_1", "USA_2", "USA_3"),
    *,
    campaigns_per_advertiser: int = 3,
    interactions_per_contact: float = 3.0,
    hours_late_fraction: float = 0.2,
    late_fraction: float = 0.06,
    max_late_days: float = 10.0,
    first_id: int = 4_000_000,
) -> list[dict[str, Any]]:
    """Return ``count`` interactions with ``occurred_at`` uniform over ``[start, end)``.

    Same arguments, same list. Ids grow with ``created_at`` (as a database would
    assign them), so records come ordered by id. ``late_fraction`` of records
    arrive 1..``max_late_days`` days late, ``hours_late_fraction`` hours late, the
    rest minutes late. Campaign volumes are skewed (the first advertisers get
    more). Naive datetimes are taken as UTC.
    """
    start_ms, end_ms = to_ms(start), to_ms(end)
    if end_ms <= start_ms:
        raise ValueError("end must be after start")
    if not advertisers or campaigns_per_advertiser < 1:
        raise ValueError("need at least one advertiser and one campaign per advertiser")
    rng = _Rng(seed)
    per_advertiser = max(1, round(count / interactions_per_contact / len(advertisers)))
    with gc_paused():
        campaigns: list[_Campaign] = []
        contacts: dict[str, list[_Contact]] = {}
        for position, gmaid in enumerate(advertisers):
            campaigns += _make_campaigns(rng, gmaid, campaigns_per_advertiser)
            contacts[gmaid] = _make_contacts(
                rng, per_advertiser, start_ms, end_ms, 2_000_000 + position * per_advertiser
            )

        timing = []
        for _ in range(count):
            occurred = rng.between(start_ms, end_ms)
            timing.append((occurred + _lateness_ms(rng, hours_late_fraction, late_fraction, max_late_days), occurred))
        timing.sort()

        weights = list(accumulate(1.0 / (rank + 1) for rank in range(len(campaigns))))
        interactions = []
        for offset, (created, occurred) in enumerate(timing):
            campaign = campaigns[bisect_right(weights, rng.random() * weights[-1])]
            interactions.append(
                _interaction(rng, first_id + offset, created, occurred, campaign, rng.pick(contacts[campaign.gmaid]))
            )
        return interactions


def with_long_transcripts(interactions: list[dict[str, Any]], transcript_bytes: int) -> list[dict[str, Any]]:
    """Every interaction as a chat whose transcript holds about ``transcript_bytes`` of messages.

    Large records for memory tests and benchmarks (a long chat is the vendor's largest record);
    ids, times, advertisers and contacts stay as they were, so the truth does not change.
    """
    line_count = max(1, transcript_bytes // 84)  # a line is about 84 bytes of JSON
    for interaction in interactions:
        seed = interaction["id"]
        interaction.pop(interaction["event_type"], None)
        interaction["event_type"] = "chat"
        interaction["chat"] = {
            "transcript": [
                {
                    "from": "visitor" if turn % 2 == 0 else "agent",
                    "message": f"{_CHAT_LINES[(seed + turn) % len(_CHAT_LINES)]} ({turn})".ljust(48, "."),
                }
                for turn in range(line_count)
            ]
        }
    return interactions
