"""A policy's field paths as a tree of per-level rules, refusing paths that are malformed or contradict each other.

A path is dot-separated field names, each optionally ``[]`` (list elements); ``*`` means every
other field of its level. The tree is what a redactor compiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pii.presets import Action

__all__ = ["Level", "build_tree", "check_path"]

_SEGMENT = re.compile(r"(?P<name>[A-Za-z0-9_\-]+|\*)(?P<list>\[\])?")


@dataclass
class Level:
    """The rules for one object level: named fields, what every other field gets, and list elements."""

    fields: dict[str, Level | Action] = field(default_factory=dict)
    default: Action | None = None  # None: inherit the enclosing level's
    each: Action | None = None  # ``name[]: action``: applied to every element of the list



def check_path(path: Any) -> str:
    """A path is dot-separated field names, each optionally ``[]`` (list elements); ``*`` means every other field."""
    if not isinstance(path, str) or not path:
        raise LipsValidationError(f"pii: a field path must be a non-empty string, got {path!r}.")
    segments = path.split(".")
    for position, segment in enumerate(segments):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise LipsValidationError(
                f"pii: malformed field path {path!r} at {segment!r}; write names of letters, digits, '_' or '-' "
                "joined by '.', with '[]' after a list (e.g. 'contact.phone_numbers[].phone_number') and '*' "
                "for every field a level does not name."
            )
        if match["name"] == "*" and (match["list"] or position != len(segments) - 1):
            raise LipsValidationError(
                f"pii: malformed field path {path!r}: '*' stands for every other field of its level and must "
                "end the path (e.g. 'contact.*')."
            )
    return path


def build_tree(
    rules: Mapping[str, Action], required: frozenset[str] = frozenset(), unhashable: frozenset[str] = frozenset()
) -> Level:
    """Turn path rules into nested levels, refusing paths that contradict each other or the pull's needs."""
    root = Level()
    for path, action in rules.items():
        plain = path.replace("[]", "")
        if plain in required and action != "keep":
            raise LipsValidationError(
                f"pii[{path!r}] = {action!r}: the pull needs {plain!r} to dedupe, keep the window and load; "
                "it is always kept. Remove this entry."
            )
        if plain in unhashable and action == "hash":
            raise LipsValidationError(
                f"pii[{path!r}] = 'hash': {plain!r} is an id or timestamp the load reads as such; use 'keep' or 'drop'."
            )
        level = root
        *parents, last = path.split(".")
        for segment in parents:
            name = segment.removesuffix("[]")
            child = level.fields.setdefault(name, Level())
            if not isinstance(child, Level) or child.each is not None:
                raise _conflict(path, name)
            level = child
        name, is_list = last.removesuffix("[]"), last.endswith("[]")
        if name == "*":
            if action == "hash":
                raise LipsValidationError(
                    f"pii[{path!r}] = 'hash': a wildcard cannot hash, as ids and timestamps would become unreadable; "
                    "name the fields to hash and use 'keep' or 'drop' for '*'."
                )
            level.default = action
        elif is_list:
            child = level.fields.setdefault(name, Level())
            if not isinstance(child, Level) or child.fields or child.default or child.each:
                raise _conflict(path, name)
            child.each = action
        elif name in level.fields:
            raise _conflict(path, name)
        else:
            level.fields[name] = action
    return root


def _conflict(path: str, name: str) -> LipsValidationError:
    return LipsValidationError(
        f"pii[{path!r}] contradicts another path for {name!r} (a field with its own action cannot also have "
        "rules for what is inside it, and 'a' and 'a[]' are the same field); keep one of them."
    )

