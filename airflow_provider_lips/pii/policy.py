"""The PII policy: which fields of an interaction are kept, dropped or replaced by a keyed hash.

A policy is a preset name (``"pseudonymize"``, ``"drop"``) or a mapping from field path to
action. It is validated once (:func:`parse_policy`, before any request), compiled once with
the key into a :class:`Redactor` (a tree of per-level rules, so applying it to a record
touches each field once), and applied inside the pull before a record reaches any sink.

Hashes are ``pii1:`` + the 64 hex digits of HMAC-SHA256(key, normalised value): keyed, so a
phone number cannot be recovered by hashing every possible number without the key;
deterministic, so one person gets one value across days, advertisers and tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from airflow_provider_lips.client.endpoints import CONTACT_INTERACTIONS, Endpoint
from airflow_provider_lips.exceptions import LipsValidationError

Action = Literal["keep", "drop", "hash"]
ACTIONS: tuple[Action, ...] = ("keep", "drop", "hash")
DEFAULT_PII_KEY_CONN_ID = "lips_pii_key"
HASH_PREFIX = "pii1:"  # bump the digit whenever normalisation or the MAC changes
KEY_FINGERPRINT_PREFIX = "kf1:"
MIN_KEY_LENGTH = 16
_FINGERPRINT_LABEL = b"airflow-provider-lips pii key fingerprint v1"
_KEY_HOWTO = (
    "create it with its password set to a long random secret, e.g. "
    "airflow connections add {conn_id} --conn-type generic "
    "--conn-password \"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\""
)


def _table(hashed: Action) -> dict[str, Action]:
    """The field table both presets share; ``hashed`` is what happens to direct identifiers."""
    keep: Action = "keep"
    drop: Action = "drop"
    return {
        "*": drop,  # a field this table does not name, at any level, may hold PII
        # The interaction: ids, timestamps, campaign, channel, type and flags.
        **dict.fromkeys(
            (
                "id", "contact_id", "campaign_id", "campaign_name", "channel", "refer_type", "referrer_type",
                "refer_source", "referrer_source", "influencing_campaign", "created_at", "occurred_at",
                "occured_at", "updated_at", "archived_at", "event_type", "sub_type", "external_source",
                "global_master_advertiser_id", "global_master_campaign_id", "master_advertiser_id",
                "master_campaign_id", "platform_id", "wpc_id", "status", "read", "read_at", "important",
                "important_at",
            ),
            keep,
        ),
        "display_name": hashed,
        "email": hashed,
        "phone_number": hashed,
        **dict.fromkeys(("page_url", "notes", "tags", "call_recording_url", "recording_url"), drop),
        # The embedded contact.
        **dict.fromkeys(
            (
                "contact.id", "contact.created_at", "contact.updated_at", "contact.archived_at", "contact.status",
                "contact.contact_external_source", "contact.interaction_external_source",
                "contact.phone_numbers[].phone_type",
            ),
            keep,
        ),
        **dict.fromkeys(
            (
                "contact.first_name", "contact.last_name", "contact.display_name", "contact.email",
                "contact.phone_numbers[].phone_number", "contact.phone_work", "contact.phone_home",
                "contact.phone_mobile",
            ),
            hashed,
        ),
        **dict.fromkeys(("contact.company", "contact.title", "contact.tags"), drop),
        # Calls.
        **dict.fromkeys(("call.duration", "call.call_duration", "call.answered", "call.occured_at", "call.occurred_at"), keep),
        **dict.fromkeys(("call.caller_number", "call.dialed_number", "call.target_number", "call.tracking_number"), hashed),
        **dict.fromkeys(("call.recording_url", "call.call_recording_url"), drop),
        # Chats: who said it is a display name; what was said is free text.
        **dict.fromkeys(("chat.lead_type", "chat.provider", "chat.transcript[].id", "chat.transcript[].timestamp"), keep),
        "chat.transcript[].from": hashed,
        **dict.fromkeys(("chat.transcript[].message", "chat.summary", "chat.referring_url"), drop),
        # Forms: everything but the sub-type and the conversation id is what the visitor typed.
        **dict.fromkeys(("form.sub_type", "form.conversation_id"), keep),
        **dict.fromkeys(("form.full_message", "form.message", "form.subject", "form.extra_fields", "form.referring_url"), drop),
        # Bookings and Local Services Ads leads: only their ids and kinds.
        **dict.fromkeys(("booking.id", "booking.booking_id", "booking.duration_minutes", "lsa.id", "lsa.lead_type"), keep),
    }


PRESETS: Mapping[str, Mapping[str, Action]] = {
    "pseudonymize": _table("hash"),
    "drop": _table("drop"),
}



@dataclass(frozen=True)
class _RecordKind:
    """What a policy must respect for one listing's records.

    ``required``: the pull needs them (dedupe, the window, the load's primary key), so they are
    never dropped or hashed, not even by ``"*": "drop"``, and naming them with another action is
    an error. ``unhashable``: ids and timestamps the load reads as typed values.
    """

    presets: Mapping[str, Mapping[str, Action]]
    required: frozenset[str]
    unhashable: frozenset[str]


def _contact_preset(table: Mapping[str, Action]) -> dict[str, Action]:
    """A ``/contacts`` record is an interaction's embedded contact: the same rules, one level up."""
    return {"*": table["*"], **{path.removeprefix("contact."): a for path, a in table.items() if path.startswith("contact.")}}


# Keyed by the listing's records key (see endpoints.py).
_KINDS: Mapping[str, _RecordKind] = {
    "contact_interactions": _RecordKind(
        PRESETS,
        frozenset({"id", "occurred_at", "occured_at"}),
        frozenset({"contact_id", "created_at", "archived_at", "contact.id", "contact.created_at", "contact.updated_at"}),
    ),
    "contacts": _RecordKind(
        {name: _contact_preset(table) for name, table in PRESETS.items()},
        frozenset({"id"}),
        frozenset({"created_at", "updated_at", "archived_at"}),
    ),
}
_SEGMENT = re.compile(r"(?P<name>[A-Za-z0-9_\-]+|\*)(?P<list>\[\])?")


@dataclass
class _Level:
    """The rules for one object level: named fields, what every other field gets, and list elements."""

    fields: dict[str, _Level | Action] = field(default_factory=dict)
    default: Action | None = None  # None: inherit the enclosing level's
    each: Action | None = None  # ``name[]: action``: applied to every element of the list


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
        """The policy as a plan of per-level rules; ``key`` is required when the policy hashes."""
        if self.hashes and not key:
            raise LipsValidationError(
                f"pii={self.spec!r} hashes fields but no key was given; set pii_key_conn_id to a connection "
                "whose password is the key."
            )
        return Redactor(self, _compile(_build_tree(self.rules), "keep", self.required), key if self.hashes else None)


def parse_policy(value: Any, endpoint: Endpoint = CONTACT_INTERACTIONS) -> PiiPolicy | None:
    """Validate ``pii`` as given to the operator: None, a preset name, a mapping, or either as JSON text.

    JSON text is what a DAG param rendered with ``{{ params.pii | tojson }}`` gives. Presets
    and the fields that must survive depend on the listing ``endpoint`` the records come from.
    """
    kind = _KINDS.get(endpoint.records_key, _RecordKind({}, frozenset({"id"}), frozenset()))
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
        rules[_check_path(path)] = cast(Action, action)
    _build_tree(rules, required, kind.unhashable | required)  # contradictions fail here, before any request
    return PiiPolicy({str(path): str(action) for path, action in value.items()}, rules, required)


def _check_path(path: Any) -> str:
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


def _build_tree(
    rules: Mapping[str, Action], required: frozenset[str] = frozenset(), unhashable: frozenset[str] = frozenset()
) -> _Level:
    """Turn path rules into nested levels, refusing paths that contradict each other or the pull's needs."""
    root = _Level()
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
            child = level.fields.setdefault(name, _Level())
            if not isinstance(child, _Level) or child.each is not None:
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
            child = level.fields.setdefault(name, _Level())
            if not isinstance(child, _Level) or child.fields or child.default or child.each:
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


def normalize(value: str) -> str:
    """The text that is hashed: one spelling per e-mail, phone number or name, so joins work.

    E-mail (``local@domain``): trimmed, lower-cased. Phone number (7 to 15 digits with the
    usual separators, an optional ``+``/``00`` and an optional extension): E.164 without the
    extension; 10 digits without a country code are taken as North American (+1). Anything
    else (names): Unicode NFKC, whitespace runs collapsed, trimmed, case-folded.
    """
    text = value.strip()
    if "@" in text:
        if _EMAIL.fullmatch(text):
            return text.lower()
    elif text[:1] in _PHONE_START:
        if _E164.fullmatch(text):  # the common case: LIPS sends E.164
            return text
        phone = _PHONE.fullmatch(text)
        if phone:
            digits = _NON_DIGITS.sub("", phone["number"])
            if 7 <= len(digits) <= 15:
                if not phone["intl"] and len(digits) == 10:
                    digits = "1" + digits
                return "+" + digits
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_START = frozenset("+0123456789(")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_PHONE = re.compile(
    r"(?P<intl>\+|00)?(?P<number>\(?\d[\d\s().\-/]*?)\s*(?:(?:x|ext\.?|extension|#)\s*\d{1,6})?", re.IGNORECASE
)
_NON_DIGITS = re.compile(r"\D")


def key_fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it (an HMAC of a fixed label): the manifest and the load compare these."""
    return KEY_FINGERPRINT_PREFIX + hmac.digest(key, _FINGERPRINT_LABEL, "sha256")[:8].hex()


class Redactor:
    """A compiled policy: :meth:`apply` returns the record as the policy allows it to leave the task."""

    _CACHE_LIMIT = 1 << 15  # at most ~8 MB; a day's pull of one advertiser has far fewer distinct values

    def __init__(self, policy: PiiPolicy, plan: _Plan, key: bytes | None) -> None:
        self.policy = policy
        self._key = key
        self._mac = hmac.new(key, digestmod=hashlib.sha256) if key else None  # copied per value: cheaper than hmac.digest
        self._hashed: dict[str, str] = {}  # raw value -> hash: contacts and tracking numbers recur
        self._apply: Callable[[dict[str, Any]], dict[str, Any]] = _generate(plan, self._hashed, self.hash)
        self.key_fingerprint = key_fingerprint(key) if key else None

    def __repr__(self) -> str:  # never the key
        return f"Redactor(policy={self.policy.spec!r}, key_fingerprint={self.key_fingerprint!r})"

    def describe(self) -> dict[str, Any]:
        """What the manifest records: the policy as given, the hash format and the key's fingerprint."""
        return {
            "policy": self.policy.spec,
            "hash_format": HASH_PREFIX.rstrip(":") if self._key else None,
            "key_fingerprint": self.key_fingerprint,
        }

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """A new dict: the policy's output for one interaction (``id`` and ``occurred_at`` always kept)."""
        return self._apply(record)

    def apply_all(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        apply = self._apply
        return [apply(record) for record in records]

    def hash(self, value: Any) -> Any:
        """``pii1:<hex>`` of a scalar's normalised text; each element of a list; an object as its canonical JSON."""
        if value is None:
            return None
        if isinstance(value, str):
            done = self._hashed.get(value)
            if done is None:
                if len(self._hashed) >= self._CACHE_LIMIT:
                    self._hashed.clear()
                assert self._mac is not None
                mac = self._mac.copy()
                mac.update(normalize(value).encode())
                done = HASH_PREFIX + mac.hexdigest()
                self._hashed[value] = done
            return done
        if isinstance(value, list):
            return [self.hash(item) for item in value]
        if isinstance(value, dict):
            return self.hash(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        return self.hash(json.dumps(value))  # numbers and booleans by their JSON spelling


@dataclass(frozen=True)
class _Plan:
    """One level compiled: which keys survive, which are hashed, which hold a deeper level."""

    allowed: frozenset[str] | None  # None: every key not in ``dropped`` survives
    dropped: frozenset[str]
    hashed: tuple[str, ...]
    nested: tuple[tuple[str, _Plan], ...]
    default: Action
    each: Action | None


def _compile(level: _Level, inherited: Action, required: frozenset[str] = frozenset()) -> _Plan:
    """``required``: top-level fields kept whatever the rules say (validation already refused naming them otherwise)."""
    default = level.default or inherited
    named: dict[str, Action] = {name: rule for name, rule in level.fields.items() if isinstance(rule, str)}
    nested = tuple((name, _compile(rule, default)) for name, rule in level.fields.items() if isinstance(rule, _Level))
    named.update(dict.fromkeys(required, "keep"))
    hashed = tuple(name for name, rule in named.items() if rule == "hash")
    if default == "keep":
        allowed = None
    else:
        allowed = frozenset([*(name for name, rule in named.items() if rule != "drop"), *(name for name, _ in nested)])
    dropped = frozenset(name for name, rule in named.items() if rule == "drop")
    return _Plan(allowed, dropped, hashed, nested, default, level.each)


def _generate(plan: _Plan, cache: dict[str, str], hash_: Callable[[Any], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The plan as straight-line Python, one function per level, compiled once per task.

    Applying a policy costs a few microseconds per record; unrolling each level's rules (and
    looking hashes up in the cache inline) roughly halves what a generic walk of the plan costs.
    Field names are embedded with ``repr`` and were validated as plain names.
    """
    lines: list[str] = []
    namespace: dict[str, Any] = {"_cache": cache, "_hash": hash_}

    def emit(level: _Plan) -> tuple[str, str]:
        number = len(namespace)
        obj, seq = f"_obj{number}", f"_seq{number}"
        namespace[obj] = namespace[seq] = None  # reserve the names; children get higher numbers
        children = [emit(child) for _, child in level.nested]
        if level.allowed is None:
            namespace[f"_drop{number}"] = level.dropped
            filtered = f"{{k: v for k, v in record.items() if k not in _drop{number}}}" if level.dropped else "dict(record)"
        else:
            namespace[f"_keep{number}"] = level.allowed
            filtered = f"{{k: v for k, v in record.items() if k in _keep{number}}}"
        lines.extend([f"def {obj}(record):", f"    out = {filtered}"])
        for name in level.hashed:
            lines.extend([
                f"    v = out.get({name!r})",
                "    if v is not None:",
                f"        out[{name!r}] = (_cache.get(v) or _hash(v)) if v.__class__ is str else _hash(v)",
            ])
        for (name, child), (child_obj, child_seq) in zip(level.nested, children, strict=True):
            lines.extend([
                f"    v = out.get({name!r})",
                "    if isinstance(v, dict):",
                f"        out[{name!r}] = {child_obj}(v)",
                "    elif isinstance(v, list):",
                f"        out[{name!r}] = {child_seq}(v)",
            ])
            if child.default == "drop":  # a scalar where the policy expected an object or a list: an unnamed field
                lines.extend(["    elif v is not None:", f"        del out[{name!r}]"])
        lines.extend(["    return out", f"def {seq}(items):"])
        if level.each == "drop":
            lines.append("    return []")
        elif level.each == "keep":
            lines.append("    return items")
        elif level.each == "hash":
            lines.append("    return [_hash(item) for item in items]")
        else:
            keep_scalars = "" if level.default != "drop" else " if isinstance(item, (dict, list))"
            lines.append(
                f"    return [{obj}(item) if isinstance(item, dict) else {seq}(item) if isinstance(item, list) else item"
                f" for item in items{keep_scalars}]"
            )
        return obj, seq

    top, _ = emit(plan)
    exec(compile("\n".join(lines), "<pii policy>", "exec"), namespace)
    return cast(Callable[[dict[str, Any]], dict[str, Any]], namespace[top])


def read_key(conn_id: str) -> bytes:
    """The HMAC key: the password of Airflow connection ``conn_id``, masked in logs the moment it is read."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as err:  # AirflowNotFoundException and its kin differ across Airflow versions
        raise LipsValidationError(
            f"pii hashes fields, so it needs a key, but connection {conn_id!r} could not be read "
            f"({type(err).__name__}); {_KEY_HOWTO.format(conn_id=conn_id)}."
        ) from None
    secret = connection.password or ""
    if secret:
        mask_secret(secret)
    if len(secret) < MIN_KEY_LENGTH:
        raise LipsValidationError(
            f"The PII key in connection {conn_id!r} (its password field) is "
            f"{'empty' if not secret else f'shorter than {MIN_KEY_LENGTH} characters'}; "
            + _KEY_HOWTO.format(conn_id=conn_id) + "."
        )
    return secret.encode()

