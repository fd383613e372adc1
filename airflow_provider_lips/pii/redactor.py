"""Applying a policy to records: its tree of rules compiled once per task into closures, one pair per level.

Each level's closure holds what the level's rules decide (which keys survive, which are
hashed, which hold a deeper level), so applying a policy walks each record once, touching
each field once, with no lookup in the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pii.keys import HASH_PREFIX, Hasher, key_fingerprint
from airflow_provider_lips.pii.presets import Action
from airflow_provider_lips.pii.rules import Level, build_tree

if TYPE_CHECKING:
    from airflow_provider_lips.pii.policy import PiiPolicy

__all__ = ["Redactor"]

_ApplyObject = Callable[[dict[str, Any]], dict[str, Any]]
_ApplyList = Callable[[list[Any]], list[Any]]


class Redactor:
    """A compiled policy: :meth:`apply` returns the record as the policy allows it to leave the task."""

    def __init__(self, policy: PiiPolicy, key: bytes | None) -> None:
        """``key``: required when the policy hashes (:meth:`PiiPolicy.compile` checks), else None."""
        self.policy = policy
        hasher = Hasher(key) if key else None
        self._hash: Callable[[Any], Any] = hasher or _keyless
        self._apply, _ = _compile(build_tree(policy.rules), "keep", self._hash, hasher.cache if hasher else {}, policy.required)
        self.key_fingerprint = key_fingerprint(key) if key else None

    def __repr__(self) -> str:  # never the key
        return f"Redactor(policy={self.policy.spec!r}, key_fingerprint={self.key_fingerprint!r})"

    def describe(self) -> dict[str, Any]:
        """What the manifest records: the policy as given, the hash format and the key's fingerprint."""
        return {
            "policy": self.policy.spec,
            "hash_format": HASH_PREFIX.rstrip(":") if self.key_fingerprint else None,
            "key_fingerprint": self.key_fingerprint,
        }

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """A new dict: the policy's output for one interaction (``id`` and ``occurred_at`` always kept)."""
        return self._apply(record)

    def apply_all(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        apply = self._apply
        return [apply(record) for record in records]

    def hash(self, value: Any) -> Any:
        """``pii1:<hex>`` of a value, as the policy hashes it (see :class:`.keys.Hasher`)."""
        return self._hash(value)


def _keyless(value: Any) -> Any:
    """The hash of a redactor without a key: nothing to hash (a policy that hashes is refused without a key)."""
    if value is None:
        return None
    raise LipsValidationError("this PII policy was compiled without a key, so it cannot hash; set pii_key_conn_id")


def _compile(
    level: Level,
    inherited: Action,
    hash_: Callable[[Any], Any],
    cache: Mapping[str, str],
    required: frozenset[str] = frozenset(),
) -> tuple[_ApplyObject, _ApplyList]:
    """One level as the function for an object and the function for a list at that level.

    ``cache`` is ``hash_``'s own memory of strings, read inline: most values hashed recur.
    ``required``: top-level fields kept whatever the rules say (validation already refused naming them otherwise).
    """
    default = level.default or inherited
    named: dict[str, Action] = {name: rule for name, rule in level.fields.items() if isinstance(rule, str)}
    named.update(dict.fromkeys(required, "keep"))
    hashed = tuple(name for name, rule in named.items() if rule == "hash")
    # (name, its object function, its list function, whether a scalar found there is dropped: an unnamed field)
    children = tuple(
        (name, *_compile(rule, default, hash_, cache), (rule.default or default) == "drop")
        for name, rule in level.fields.items()
        if isinstance(rule, Level)
    )
    allowed: frozenset[str] | None = None  # None: every key not in ``dropped`` survives
    if default != "keep":
        allowed = frozenset([*(name for name, rule in named.items() if rule != "drop"), *(name for name, *_ in children)])
    dropped = frozenset(name for name, rule in named.items() if rule == "drop")
    each = level.each  # ``name[]: action``: applied to every element of the list
    keep_scalars = default != "drop"
    cached = cache.get  # bound once: the dict is cleared, never replaced

    def apply_object(record: dict[str, Any]) -> dict[str, Any]:
        if allowed is not None:
            out = {k: v for k, v in record.items() if k in allowed}
        elif dropped:
            out = {k: v for k, v in record.items() if k not in dropped}
        else:
            out = dict(record)
        for name in hashed:
            v = out.get(name)
            if v is not None:
                out[name] = (cached(v) or hash_(v)) if v.__class__ is str else hash_(v)
        for name, child_object, child_list, drop_scalar in children:
            v = out.get(name)
            if v is None:  # most records hold one kind's object (call, chat, form, ...) of several
                continue
            if isinstance(v, dict):
                out[name] = child_object(v)
            elif isinstance(v, list):
                out[name] = child_list(v)
            elif drop_scalar:
                del out[name]
        return out

    def apply_list(items: list[Any]) -> list[Any]:
        if each is None:
            return [
                apply_object(item) if isinstance(item, dict) else apply_list(item) if isinstance(item, list) else item
                for item in items
                if keep_scalars or isinstance(item, (dict, list))
            ]
        if each == "hash":
            return [hash_(item) for item in items]
        return items if each == "keep" else []

    return apply_object, apply_list
