"""Validated LIPS filters and their exact encoding on the wire.

The API's array parameters carry brackets in their names (``event_type[]``,
``event_params[phone_numbers]``) and must reach the server under those names: they are
never dropped or double-encoded (on the wire urllib3 writes ``[``/``]`` as ``%5B``/``%5D``,
as RFC 3986 requires in a query, and the server decodes them back). Values are fully
percent-encoded so a ``+`` in a phone number arrives as ``+``, not as a space. How the
server reads several advertiser, campaign or phone values in one request is not documented,
so a pull asks for one value of each at a time and merges the results.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_lips.exceptions import LipsValidationError

EVENT_TYPES = frozenset(
    "booking call chat chat_other chat_sales chat_service dyipost email facebook form fpd lsa promotion sms".split()
)
CHANNELS = frozenset("search display social chat other none".split())

_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_PHONE_PATTERN = re.compile(r"\+?[0-9]{4,15}")
_ID_HINT = "use only letters, digits, '_', '-' or '.', e.g. '{example}'"

QueryParams = Sequence[tuple[str, str]]


def encode_query(params: Iterable[tuple[str, Any]]) -> str:
    """Encode ``params``; brackets in names stay readable in logs, values are escaped whole."""
    return "&".join(f"{quote(str(name), safe='[]')}={quote(str(value), safe='')}" for name, value in params)


def _as_list(value: Any, name: str) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [str(part).strip() if isinstance(part, (str, int)) else part for part in value]
    else:
        raise LipsValidationError(f"{name} must be a string or a list of strings, got {type(value).__name__}.")
    for item in items:
        if not isinstance(item, str) or not item:
            raise LipsValidationError(f"{name} contains an empty or non-string value {item!r}; remove it.")
    return list(dict.fromkeys(items))


def _checked(values: list[str], name: str, pattern: re.Pattern[str], hint: str) -> list[str]:
    for value in values:
        if not pattern.fullmatch(value):
            raise LipsValidationError(f"{name} value {value!r} is not valid: {hint}.")
    return values


def _checked_choice(values: list[str], name: str, allowed: frozenset[str]) -> list[str]:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise LipsValidationError(f"{name} has unknown value(s) {unknown}; choose from {sorted(allowed)}.")
    return values


@dataclass(frozen=True)
class ContactInteractionFilters:
    """What to pull, validated; one instance may expand to several single-valued queries."""

    advertiser_ids: tuple[str, ...] = ()
    campaign_ids: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @classmethod
    def from_values(
        cls,
        *,
        global_master_advertiser_id: Any = None,
        global_master_campaign_id: Any = None,
        phone_numbers: Any = None,
        event_types: Any = None,
        channels: Any = None,
    ) -> ContactInteractionFilters:
        gmaids = _checked(
            _as_list(global_master_advertiser_id, "global_master_advertiser_id"),
            "global_master_advertiser_id",
            _ID_PATTERN,
            _ID_HINT.format(example="USA_1"),
        )
        gmcids = _checked(
            _as_list(global_master_campaign_id, "global_master_campaign_id"),
            "global_master_campaign_id",
            _ID_PATTERN,
            _ID_HINT.format(example="USA_3115232"),
        )
        if not gmaids and not gmcids:
            raise LipsValidationError(
                "Set global_master_advertiser_id (e.g. 'USA_1') or global_master_campaign_id "
                "(e.g. 'USA_3115232'): the LIPS API requires at least one of them."
            )
        return cls(
            advertiser_ids=tuple(gmaids),
            campaign_ids=tuple(gmcids),
            phone_numbers=tuple(_checked(
                    _as_list(phone_numbers, "phone_numbers"),
                    "phone_numbers",
                    _PHONE_PATTERN,
                    "use an E.164 number, e.g. '+13184227453'",
                )),
            event_types=tuple(_checked_choice(_as_list(event_types, "event_types"), "event_types", EVENT_TYPES)),
            channels=tuple(_checked_choice(_as_list(channels, "channels"), "channels", CHANNELS)),
        )

    def queries(self) -> Iterator[list[tuple[str, str]]]:
        """One parameter list per combination of single advertiser, campaign and phone values."""
        axes: list[list[tuple[str, str] | None]] = [
            [("global_master_advertiser_id", v) for v in self.advertiser_ids] or [None],
            [("global_master_campaign_id", v) for v in self.campaign_ids] or [None],
            [("event_params[phone_numbers]", v) for v in self.phone_numbers] or [None],
        ]
        arrays = [("event_type[]", v) for v in self.event_types] + [("channel[]", v) for v in self.channels]
        for combination in itertools.product(*axes):
            yield [param for param in combination if param is not None] + arrays

    def as_dict(self) -> dict[str, list[str]]:
        """The filters for manifests and logs (none of them secret)."""
        return {
            "global_master_advertiser_id": list(self.advertiser_ids),
            "global_master_campaign_id": list(self.campaign_ids),
            "phone_numbers": list(self.phone_numbers),
            "event_types": list(self.event_types),
            "channels": list(self.channels),
        }
