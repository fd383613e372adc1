"""Parsing and validating a PII policy as given to an operator (a preset name, a mapping, or either as JSON).

A policy is validated once, before any request (:func:`parse_policy`); compiled once with the
key into a :class:`~.redactor.Redactor`; and applied inside the pull before a record reaches any sink.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS, Endpoint
from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pii.presets import ACTIONS, Action, record_kind
from airflow_provider_lips.pii.redactor import Redactor
from airflow_provider_lips.pii.rules import build_tree, check_path

__all__ = ["PiiPolicy", "parse_policy"]


@dataclass(frozen=True)
class PiiPolicy:
    """A validated policy; ``spec`` is what the user gave (a preset name or the mapping), for the manifest."""

    spec: str | dict[str, str]
    rules: Mapping[str, Action]
    required: frozenset[str] = frozenset()

    @property
    def hashes(self) -> bool:
        """Whether the policy needs a key."""
        return "hash" in self.rules.values()

    def compile(self, key: bytes | None) -> Redactor:
        """The policy ready to apply to records; ``key`` is required when the policy hashes."""
        if self.hashes and not key:
            raise LipsValidationError(
                f"pii={self.spec!r} hashes fields but no key was given; set pii_key_conn_id to a connection "
                "whose password is the key."
            )
        return Redactor(self, key if self.hashes else None)


def parse_policy(value: Any, endpoint: Endpoint = CONTACT_INTERACTIONS) -> PiiPolicy | None:
    """Validate ``pii`` as given to the operator: None, a preset name, a mapping, or either as JSON text.

    JSON text is what a DAG param rendered with ``{{ params.pii | tojson }}`` gives. Presets
    and the fields that must survive depend on the listing ``endpoint`` the records come from.
    """
    kind = record_kind(endpoint.records_key)
    required = kind.required | {endpoint.time_field}
    presets = kind.presets
    # Twice at most: a mapping typed into the Trigger form's text field arrives as JSON of JSON text.
    for _ in range(2):
        if not isinstance(value, str):
            break
        text = value.strip()
        if not (text[:1] in ('{', '"') or text == "null"):
            value = text
            break
        try:
            value = json.loads(text)
        except ValueError as err:
            raise LipsValidationError(f"pii={value!r} is not valid JSON: {err}; give a preset name or a mapping.") from None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        preset = presets.get(value)
        if preset is None:
            hint = " (render DAG params with '{{ params.pii | tojson }}')" if value in ("None", "{}") else ""
            raise LipsValidationError(
                f"pii={value!r} is not a preset{hint}; use one of {sorted(presets)}, None to keep every field, "
                "or a mapping from field path to 'keep', 'drop' or 'hash'."
            )
        return PiiPolicy(value, preset, required)
    if not isinstance(value, Mapping) or not value:
        raise LipsValidationError(
            f"pii must be None, a preset name ({', '.join(sorted(presets))}) or a non-empty mapping from field "
            f"path to action, e.g. {{'contact.email': 'hash'}}; got {value!r}."
        )
    rules: dict[str, Action] = {}
    for path, action in value.items():
        if action not in ACTIONS:
            raise LipsValidationError(
                f"pii[{path!r}]: unknown action {action!r}; use 'keep', 'drop' or 'hash'."
            )
        rules[check_path(path)] = cast(Action, action)
    build_tree(rules, required, kind.unhashable | required)  # contradictions fail here, before any request
    return PiiPolicy({str(path): str(action) for path, action in value.items()}, rules, required)

