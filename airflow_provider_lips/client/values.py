"""Booleans and numbers read from a connection's extra or an operator's arguments, parsed, never cast.

A connection form, a URI query (``?allow_insecure_http=false``) or a templated argument delivers
``"false"`` and ``"30"`` as text; ``bool("false")`` is true, so every flag and number goes
through these two parsers, which accept the usual spellings and refuse anything else with a
message naming the field.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_lips.exceptions import LipsValidationError

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "parse_flag", "parse_number", "whole_or_given"]

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def parse_flag(value: Any, field: str, *, default: bool) -> bool:
    """``True``/``False``, ``1``/``0``, or text ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case);
    ``None`` or ``""`` is unset and gives ``default``.

    ``field`` names the setting as the user wrote it, e.g. ``"Connection 'lips_default': extra 'allow_insecure_http'"``.
    """
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise LipsValidationError(
        f"{field} must be true or false (also 1/0, yes/no, on/off), got {value!r}; remove it to use the default "
        f"{str(default).lower()}."
    )


def parse_number(value: Any, *, integer: bool = False) -> float | int | None:
    """A finite number from a number or its text (``"30"``, ``" 2.5 "``, ``"1e3"``); ``None`` when it is none.

    Booleans are not numbers here (``True`` would read as 1). With ``integer`` the value must
    be whole (``"7"``, ``7.0``) and comes back as an ``int``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number: float = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, (int, float)):
        number = value
    else:
        return None
    if not math.isfinite(number):
        return None
    if integer:
        return int(number) if float(number).is_integer() else None
    return float(number)


def whole_or_given(value: Any) -> Any:
    """An operator's integer argument with its text spellings read (``"50"`` -> 50), else as given.

    What is not a whole number is handed back unchanged, for the argument's own check to refuse
    with its own message; ``None`` stays "not given".
    """
    number = parse_number(value, integer=True) if isinstance(value, str) else None
    return value if number is None else number
