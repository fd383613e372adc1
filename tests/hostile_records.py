"""Interactions whose text and shape a lake writer could mangle: the Parquet tests' hardest input.

Emoji, right-to-left scripts, control characters, U+2028/U+2029, a 200 KB transcript,
undocumented fields nested at every level, explicit nulls beside absent fields, values of
another type than the documented one, big integers and floats.
"""

from __future__ import annotations

import copy
from typing import Any

HOSTILE_TEXTS = (
    "emoji 😀👍🏽🇺🇸 family 👨‍👩‍👧",
    "RTL שלום עולם مرحبا بالعالم",
    "controls \x00\x01\x08\x0b\x0c\x1b\x1f\x7f end",
    "separators \u2028 line \u2029 paragraph \u0085 next",
    'quotes " \\ / and {"json": "inside"}',
    "windows\r\nnewline\ttab",
    "zero width \u200b\u200d\ufeff",
)
# A chat of about 200 KB of transcript: the vendor's largest records.
LONG_TRANSCRIPT_BYTES = 200_000


def hostile_interactions(template: dict[str, Any], first_id: int) -> list[dict[str, Any]]:
    """Interactions derived from ``template`` (a canonical sandbox record): same advertiser, times and contact."""
    records = []
    for offset, text in enumerate(HOSTILE_TEXTS):
        record = copy.deepcopy(template)
        record.update(id=first_id + offset, display_name=text, notes=text, campaign_name=text, read=offset % 2 == 0)
        record["contact"] = {**record["contact"], "first_name": text, "company": text, "title": None}
        record["event_type"] = "chat"
        for key in ("call", "form", "booking"):
            record.pop(key, None)
        record["chat"] = {
            "lead_type": text,
            "transcript": [
                {"id": 1, "timestamp": template["occurred_at"], "from": "visitor", "message": text},
                {"from": "agent", "message": text, "attachments": [{"name": text, "bytes": 12}]},
            ],
        }
        records.append(record)
    shapes = copy.deepcopy(template)
    shapes.update(
        id=first_id + len(HOSTILE_TEXTS),
        important=True,
        read=None,  # explicit null beside absent documented fields
        master_advertiser_id=2**62,  # a big integer
        platform_id=17,  # a number where text is documented
        sub_type="",
        utm={"source": "google", "terms": ["a", None, 1.5e-7, {"deep": {"deeper": [True, False]}}], "empty": {}, "none": []},
        extra_json="a field named like the column that keeps the rest",
    )
    shapes.pop("call", None)
    shapes.pop("form", None)
    shapes.pop("booking", None)
    shapes["event_type"] = "form"
    shapes["form"] = {"message": "see extra_fields", "extra_fields": {"budget": "$5,000", "rooms": 3}, "conversation_id": 98765}
    shapes["contact"] = {
        **shapes["contact"],
        "phone_numbers": [{"phone_type": "work", "phone_number": "+19893643647 x241", "verified": False}, {"phone_type": None}],
        "custom_fields": {"vip": True, "score": 0.5, "tags": ["a", "ב", "😀"]},
        "id": str(shapes["contact"]["id"]),  # an id sent as text
    }
    records.append(shapes)
    long_chat = copy.deepcopy(template)
    long_chat.update(id=first_id + len(HOSTILE_TEXTS) + 1, event_type="chat")
    for key in ("call", "form", "booking"):
        long_chat.pop(key, None)
    line = "A long visit: " + "".join(HOSTILE_TEXTS) + " "
    lines = max(1, LONG_TRANSCRIPT_BYTES // (len(line.encode()) + 40))
    long_chat["chat"] = {
        "transcript": [{"id": turn, "from": "visitor" if turn % 2 else "agent", "message": f"{line}{turn}"} for turn in range(lines)]
    }
    records.append(long_chat)
    return records
