"""Parquet output: records to typed, zstd-compressed row groups, and back to the records as sent.

The schema and how a record maps to a row are :mod:`airflow_provider_lips.output.parquet_schema`'s.
Writing converts each batch the pull delivers into Arrow at once (the records can then be
freed) and buffers the batches of each file until a row group is full; the buffers of all
files one pull writes share one byte bound, so memory stays flat however many records a day holds.
"""

from __future__ import annotations

import gc
import operator
import os
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import date, datetime, timezone
from functools import lru_cache
from itertools import accumulate, chain, compress, repeat
from types import CodeType
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.output.parquet_schema import EXTRA, FIELDS, SCHEMA_FINGERPRINT, SCHEMA_VERSION, Field
from airflow_provider_lips.pull.records import plain_event_type
from airflow_provider_lips.pull.window import parse_timestamp

if TYPE_CHECKING:
    import pyarrow as pa

# Arrow's default allocator (mimalloc) keeps the pages a pull frees, so a long pull's peak RSS creeps
# up (14 MB more at 100,000 interactions than at 10,000); the C allocator returns them (1 MB). Read
# once, when pyarrow loads: a deployment that sets the variable, or loaded pyarrow earlier, keeps its choice.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__all__ = [
    "BUFFER_BYTES",
    "CONVERT_ROWS",
    "METADATA_FINGERPRINT",
    "METADATA_VERSION",
    "ROW_GROUP_ROWS",
    "ParquetFiles",
    "arrow_schema",
    "is_parquet",
    "read_records",
    "record_from_row",
    "require_pyarrow",
]

MAGIC = b"PAR1"
# Rows per row group when memory allows: large enough for readers to skip and prune well.
ROW_GROUP_ROWS = 131_072
# Arrow bytes buffered across every file of one pull before the largest buffer is written out.
BUFFER_BYTES = 4 * 1024 * 1024
# Records held as Python values across every file of one pull before the largest share becomes Arrow.
CONVERT_ROWS = 2048
# Bytes the encoding thread buffers per file before writing to the (Python) file handle: each write
# to it takes the GIL, a row group without a buffer makes about 180 of them.
SINK_BUFFER_BYTES = 64 * 1024
METADATA_VERSION = b"lips.schema_version"
METADATA_FINGERPRINT = b"lips.schema_fingerprint"
_INT64 = (-(2**63), 2**63 - 1)
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z")
# The same form for Arrow's regular expressions (RE2: ``\d`` is ASCII only, stricter than Python's).
_CANONICAL_TIME_RE2 = "^" + _CANONICAL_TIME.pattern + "$"
_ABSENT = object()
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


def require_pyarrow(purpose: str = "output_format 'parquet'") -> None:
    """Fail with the extra to install when pyarrow is missing (before any request, or before a load reads)."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise LipsValidationError(
            f"{purpose} needs pyarrow, which is not installed: pip install 'airflow-provider-lips[parquet]'."
        ) from None


def is_parquet(head: bytes) -> bool:
    """Whether a file starting with ``head`` is Parquet (its magic number), whatever its name."""
    return head[:4] == MAGIC


@lru_cache(maxsize=1)
def arrow_schema() -> pa.Schema:
    """The Arrow schema of :data:`FIELDS`, with the schema version in its metadata."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(field.name, _arrow_type(field)) for field in FIELDS] + [pa.field(EXTRA, pa.string())],
        metadata={METADATA_VERSION: str(SCHEMA_VERSION).encode(), METADATA_FINGERPRINT: SCHEMA_FINGERPRINT.encode()},
    )


def _arrow_type(field: Field) -> pa.DataType:
    import pyarrow as pa

    if field.kind in ("struct", "list"):
        struct = pa.struct([pa.field(child.name, _arrow_type(child)) for child in field.children] + [pa.field(EXTRA, pa.string())])
        # Lists' items are named 'element', as Parquet readers name them: the schema read back is this one.
        return struct if field.kind == "struct" else pa.list_(pa.field("element", struct))
    return {
        "int64": pa.int64(),
        "string": pa.string(),
        "event_type": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
    }[field.kind]


# -- records -> columns -------------------------------------------------------------------------


class _Column(ABC):
    """The buffered values of one column; ``append`` says whether the typed value is the value as sent."""

    # A Python expression over ``sent``: when true, ``sent`` is stored as it is, exactly (the
    # generated struct code appends it to ``values`` inline; names come from _FAST_SCOPE).
    fast_check: str | None = None

    def __init__(self, field: Field) -> None:
        self.field = field
        self.values: list[Any] = []

    @abstractmethod
    def append(self, value: Any) -> bool: ...

    def append_absent(self) -> None:
        self.values.append(None)

    def finish(self, arrow_type: pa.DataType) -> pa.Array:
        import pyarrow as pa

        array = pa.array(self.values, arrow_type)
        self.values.clear()
        return array

    def decode(self, value: Any) -> Any:
        """The JSON value of a non-null typed value read back."""
        return value


class _Int(_Column):
    fast_check = "type(sent) is int and INT64[0] <= sent <= INT64[1]"

    def append(self, value: Any) -> bool:
        if type(value) is int and _INT64[0] <= value <= _INT64[1]:
            self.values.append(value)
            return True
        if type(value) is str and value.isascii() and value.isdigit() and int(value) <= _INT64[1]:
            self.values.append(int(value))  # an id sent as text: typed for queries, the text in extra_json
        else:
            self.values.append(None)
        return False


class _Typed(_Column):
    """A column whose values are exact when they have one Python type (text, booleans)."""

    def __init__(self, field: Field, python_type: type) -> None:
        super().__init__(field)
        self.plain_type = python_type
        self.fast_check = f"type(sent) is {python_type.__name__}"

    def append(self, value: Any) -> bool:
        if type(value) is self.plain_type:
            self.values.append(value)
            return True
        self.values.append(None)
        return False


class _EventType(_Column):
    def append(self, value: Any) -> bool:
        if type(value) is not str:
            self.values.append(None)
            return False
        plain = plain_event_type(value)
        self.values.append(plain)
        return plain == value


class _Timestamp(_Column):
    """UTC instants; exact when the text is LIPS's own form, ``2021-09-06T16:16:08.000Z``.

    Values are kept in that form (other forms are converted to it, the original going to
    ``extra_json``) and parsed all at once by Arrow when the batch is built.
    """

    fast_check = "type(sent) is str and canonical_time(sent)"

    def append(self, value: Any) -> bool:
        if type(value) is str and _canonical_time(value):
            self.values.append(value)
            return True
        try:
            moment = parse_timestamp(value).astimezone(timezone.utc) if type(value) is str else None
        except (ValueError, OverflowError):
            moment = None
        self.values.append(None if moment is None else _render_time(moment))
        return False

    def finish(self, arrow_type: pa.DataType) -> pa.Array:
        import pyarrow as pa

        array = pa.array(self.values, pa.string()).cast(arrow_type)
        self.values.clear()
        return array

    def decode(self, value: Any) -> Any:
        return _render_time(value.astimezone(timezone.utc))


def _canonical_time(value: str) -> bool:
    """Whether ``value`` is LIPS's own timestamp form, on a day that exists."""
    return _CANONICAL_TIME.fullmatch(value) is not None and _real_day(value[:10])


@lru_cache(maxsize=4096)
def _real_day(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _render_time(moment: datetime) -> str:
    """``2021-09-06T16:16:08.000Z`` of a UTC datetime (milliseconds truncated, as Arrow stores them)."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


class _Struct(_Column):
    """An object: typed children, and ``extra_json`` for what they do not reproduce.

    ``append`` runs once per object of every record written, the writer's hot loop. It is
    generated once per struct as straight-line code (as ``dataclasses`` generates
    ``__init__``): a child whose value passes its column's fast check (its plain type) is appended
    inline; anything else goes through the child's own ``append``, and what that cannot
    reproduce exactly lands in ``extra_json``.
    """

    def __init__(self, field: Field) -> None:
        super().__init__(field)
        self.children = [_column(child) for child in field.children]
        self.known = frozenset(name for child in field.children for name in child.names)
        self.extras: list[bytes | None] = []
        self.valid: list[bool] = []
        self.append = self._compile()  # type: ignore[method-assign,assignment]

    def append(self, value: Any) -> bool:
        raise NotImplementedError  # replaced in __init__ by the generated code

    def _compile(self) -> Callable[[Any], bool]:
        scope: dict[str, Any] = {
            "ABSENT": _ABSENT, "KNOWN": self.known, "encode": _encode_json, "spelled": _spelled,
            "extras_append": self.extras.append, "valid_append": self.valid.append, "INT64": _INT64,
            "canonical_time": _canonical_time, "str": str, "bool": bool, "int": int,
        }  # fmt: skip
        lines = [
            "def append(value):",
            "    if type(value) is not dict:",
            "        valid_append(False)",
            "        return False",
            "    extras = {}",
            "    get = value.get",
        ]
        for index, column in enumerate(self.children):
            names = column.field.names
            scope[f"column{index}"] = column
            scope[f"put{index}"] = column.values.append
            scope[f"append{index}"] = column.append
            scope[f"absent{index}"] = column.append_absent
            indent = "    "
            if len(names) > 1:
                # The documented spelling alone takes the inline path; any other spelling the generic one.
                others = " or ".join(f"{name!r} in value" for name in names[1:])
                lines += [
                    f"    if {names[0]!r} not in value or {others}:",
                    f"        spelled(value, {names!r}, column{index}, extras)",
                    "    else:",
                ]
                indent = "        "
            name = names[0]
            lines.append(f"{indent}sent = get({name!r}, ABSENT)")
            if column.fast_check is not None:
                lines += [f"{indent}if {column.fast_check}:", f"{indent}    put{index}(sent)", f"{indent}el"]
            else:
                lines.append(indent)
            lines[-1] += "if sent is ABSENT:"
            lines += [
                # A scalar's absence is a null; an object's or list's goes through the column.
                f"{indent}    {f'put{index}(None)' if column.fast_check else f'absent{index}()'}",
                f"{indent}elif not append{index}(sent):",
                f"{indent}    extras[{name!r}] = sent",
            ]
        lines += [
            "    unknown = value.keys() - KNOWN",
            "    if unknown:",
            "        for key in sorted(unknown):",
            "            extras[key] = value[key]",
            "    extras_append(encode(extras) if extras else None)",
            "    valid_append(True)",
            "    return True",
        ]
        exec(_compiled("\n".join(lines), self.field.name), scope)  # noqa: S102  (our own code, built from FIELDS)
        function: Callable[[Any], bool] = scope["append"]
        return function

    def append_absent(self) -> None:
        # The children hold the present objects only (a record has one per-type object of five);
        # finish() spreads them over the rows.
        self.valid.append(False)

    def finish(self, arrow_type: pa.DataType) -> pa.Array:
        import pyarrow as pa

        arrays = [column.finish(arrow_type.field(i).type) for i, column in enumerate(self.children)]
        arrays.append(pa.array(self.extras, pa.string()))
        mask = None
        if not all(self.valid):
            positions = _positions(self.valid)
            arrays = [array.take(positions) for array in arrays]
            mask = pa.array([not valid for valid in self.valid], pa.bool_())
        self.extras.clear()
        self.valid.clear()
        return pa.StructArray.from_arrays(arrays, fields=list(arrow_type), mask=mask)

    def decode(self, value: Any) -> Any:
        extra = value.get(EXTRA)
        extras: dict[str, Any] = _decode_json(extra) if extra else {}
        record: dict[str, Any] = {}
        for column in self.children:
            typed = value.get(column.field.name)
            if typed is None or (extras and any(name in extras for name in column.field.names)):
                continue
            record[column.field.name] = column.decode(typed)
        record.update(extras)
        return record


class _List(_Column):
    """A list of objects; inexact as a whole when any element is not an object."""

    def __init__(self, field: Field) -> None:
        super().__init__(field)
        self.element = _Struct(Field(field.name, "struct", field.doc, children=field.children))
        self.offsets = [0]
        self.valid: list[bool] = []

    def append(self, value: Any) -> bool:
        if type(value) is not list:
            self.append_absent()
            return False
        exact = True
        for item in value:
            exact = self.element.append(item) and exact
        self.offsets.append(self.offsets[-1] + len(value))
        self.valid.append(True)
        return exact

    def append_absent(self) -> None:
        self.offsets.append(self.offsets[-1])
        self.valid.append(False)

    def finish(self, arrow_type: pa.DataType) -> pa.Array:
        import pyarrow as pa

        values = self.element.finish(arrow_type.value_type)
        mask = None if all(self.valid) else pa.array([not valid for valid in self.valid], pa.bool_())
        array = pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), values, type=arrow_type, mask=mask)
        self.offsets, self.valid = [0], []
        return array

    def decode(self, value: Any) -> Any:
        return [self.element.decode(item) for item in value]


@lru_cache(maxsize=64)
def _compiled(source: str, name: str) -> CodeType:
    """The generated code of a struct, compiled once per process (every file of every pull reuses it)."""
    return compile(source, f"<parquet writer of {name}>", "exec")


def _spelled(value: dict[str, Any], names: tuple[str, ...], column: _Column, extras: dict[str, Any]) -> None:
    """A field sent under another spelling than its column's, or under several: each as sent into ``extras``."""
    present = [name for name in names if name in value]
    if not present:
        column.append_absent()
        return
    column.append(value[present[0]])
    for name in present:
        extras[name] = value[name]  # the typed column is then not rendered back under its own name


def _positions(valid: list[bool]) -> pa.Array:
    """Per row, the index of its object among the present ones, or null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = pa.array(valid, pa.bool_())
    return pc.if_else(present, pc.subtract(pc.cumulative_sum(present.cast(pa.int32())), 1), None)


def _column(field: Field) -> _Column:
    if field.kind == "struct":
        return _Struct(field)
    if field.kind == "list":
        return _List(field)
    if field.kind == "int64":
        return _Int(field)
    if field.kind == "timestamp":
        return _Timestamp(field)
    if field.kind == "event_type":
        return _EventType(field)
    return _Typed(field, bool if field.kind == "bool" else str)


def _record_columns() -> _Struct:
    return _Struct(Field("record", "struct", "one interaction", children=FIELDS))


def _to_batch(columns: _Struct) -> pa.RecordBatch:
    """The rows appended to ``columns`` as one Arrow batch of :func:`arrow_schema`; ``columns`` is emptied."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.RecordBatch.from_struct_array(columns.finish(pa.struct(list(schema)))).replace_schema_metadata(schema.metadata)


# -- records -> columns, all at once -------------------------------------------------------------


class _Irregular(Exception):
    """A batch the columnar path cannot convert exactly; the per-record path (:class:`_Struct`) converts it."""


def _to_batch_of(records: list[Any], columns: Callable[[], _Struct]) -> pa.RecordBatch:
    """``records`` as one Arrow batch: column by column in Arrow when they are regular, else record by record.

    Regular (what LIPS sends): every value of a typed column has its column's plain type,
    timestamps in LIPS's own form, plain event types, no other spelling of a field. Anything
    else sends the whole batch down the per-record path, which reproduces it exactly; both
    paths give the same batch for the same regular records (a test compares them).
    """
    import pyarrow as pa

    schema = arrow_schema()
    try:
        if not all(map(operator.is_, map(type, records), repeat(dict))):
            raise _Irregular
        struct = _fast_struct(FIELDS, pa.struct(list(schema)), records)
    except (_Irregular, pa.ArrowException, OverflowError):
        slow = columns()
        append = slow.append
        for record in records:
            append(record)
        return _to_batch(slow)
    return pa.RecordBatch.from_struct_array(struct).replace_schema_metadata(schema.metadata)


@lru_cache(maxsize=64)
def _names(fields: tuple[Field, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """(documented names, other spellings) of one level's fields."""
    return frozenset(field.name for field in fields), frozenset(name for field in fields for name in field.spellings)


def _fast_struct(fields: tuple[Field, ...], arrow_type: pa.StructType, dicts: list[dict[str, Any]]) -> pa.StructArray:
    """The objects ``dicts`` (all present) as a struct array of ``fields`` plus ``extra_json``, column by column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    documented, others = _names(fields)
    keys = _keys(dicts)
    unknown = keys - documented
    if len(unknown) > _MAX_UNKNOWN or not others.isdisjoint(unknown):
        raise _Irregular
    # The scalar columns Arrow checks itself (text, booleans, timestamps as text) in one pass over the objects.
    scalars = [field for field in fields if field.kind in _SCALAR and field.name in keys]
    parsed = iter(pa.array(dicts, _scalar_struct(tuple(scalars))).flatten() if scalars else ())
    arrays = [
        (
            _checked(field, arrow_type.field(index).type, next(parsed))
            if field.kind in _SCALAR
            else _fast_column(field, arrow_type.field(index).type, list(map(dict.get, dicts, repeat(field.name))))
        )
        if field.name in keys
        else pa.nulls(len(dicts), arrow_type.field(index).type)
        for index, field in enumerate(fields)
    ]
    parts = []  # per key of extra_json, in the per-record path's order: ',"key":value' where sent, else null
    unknown_parts = []
    sent_unknown = 0
    for key in sorted(unknown):
        texts = pa.array(list(map(_encode_json, map(dict.get, dicts, repeat(key)))), pa.string())
        members = pc.binary_join_element_wise(_member(key), texts, "")
        if pc.equal(texts, "null").true_count:  # absent or sent as null: which, only the objects know
            sent = _has(dicts, key)
            sent_unknown += sent.true_count
            members = pc.if_else(sent, members, None)
        else:
            sent_unknown += len(dicts)
        unknown_parts.append(members)
    # Documented fields sent as null: as many as the keys sent outnumber the non-null values and unknown keys.
    sent_null = sum(map(len, dicts)) - sent_unknown - sum(len(array) - array.null_count for array in arrays)
    for field, array in zip(fields, arrays, strict=True):
        if sent_null > 0 and array.null_count and field.name in keys:
            sent = _has(dicts, field.name)
            if sent.true_count > len(array) - array.null_count:
                sent_null -= sent.true_count - (len(array) - array.null_count)
                parts.append(pc.if_else(pc.and_(sent, pc.is_null(array)), _member(field.name) + "null", None))
    arrays.append(_json_objects(parts + unknown_parts, len(dicts)))
    return pa.StructArray.from_arrays(arrays, fields=list(arrow_type))


# More distinct unknown keys than this in one batch's objects of one level go record by record
# (the columnar path costs a pass over the batch per key).
_MAX_UNKNOWN = 32


def _keys(dicts: list[dict[str, Any]]) -> set[str]:
    """Every key of ``dicts`` (a loop of set updates: ten times faster than a union of their key views)."""
    keys: set[str] = set()
    update = keys.update
    for value in dicts:
        update(value)
    return keys


def _member(key: str) -> str:
    """``,"key":``, as the per-record path's encoder writes the key (escapes included)."""
    return "," + _encode_json(key).decode() + ":"


def _has(dicts: list[dict[str, Any]], key: str) -> pa.BooleanArray:
    import pyarrow as pa

    return pa.array(list(map(dict.__contains__, dicts, repeat(key))), pa.bool_())


def _json_objects(parts: list[pa.Array], rows: int) -> pa.Array:
    """Per row, ``{`` + its non-null parts (each starting with a comma) + ``}``; null where it has none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not parts:
        return pa.nulls(rows, pa.string())
    joined = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
    objects = pc.binary_join_element_wise(pc.binary_replace_slice(joined, 0, 1, "{"), "}", "")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), objects)


_CHECKED: dict[str, set[type]] = {"int64": {int, type(None)}, "struct": {dict, type(None)}, "list": {list, type(None)}}


def _fast_column(field: Field, arrow_type: pa.DataType, values: list[Any]) -> pa.Array:
    """One integer, object or list column's values (None where absent or null); :class:`_Irregular` when one
    is not exactly representable.

    Arrow would truncate a float into an integer column, and read other values than objects and
    lists into structs and lists: their types are checked here (the scalar columns are :func:`_checked`'s).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not set(map(type, values)) <= _CHECKED[field.kind]:
        raise _Irregular
    if field.kind in ("struct", "list"):
        present = list(map(operator.is_not, values, repeat(None)))
        objects = list(compress(values, present))
        if field.kind == "struct":
            array: pa.Array = _fast_struct(field.children, arrow_type, objects)
            return array if all(present) else array.take(_positions(present))
        items = list(chain.from_iterable(objects))
        if not all(map(operator.is_, map(type, items), repeat(dict))):
            raise _Irregular
        elements = _fast_struct(field.children, arrow_type.value_type, items)
        offsets = pa.array([0, *accumulate(0 if value is None else len(value) for value in values)], pa.int32())
        mask = None if all(present) else pc.invert(pa.array(present, pa.bool_()))
        return pa.ListArray.from_arrays(offsets, elements, type=arrow_type, mask=mask)
    return pa.array(values, arrow_type)


# Columns whose every value Arrow's conversion of Python objects reproduces exactly or refuses (unlike integers,
# which it would truncate from floats): read from the objects in one pass, not value by value.
_SCALAR = frozenset({"string", "bool", "timestamp", "event_type"})


@lru_cache(maxsize=256)
def _scalar_struct(fields: tuple[Field, ...]) -> pa.StructType:
    """The struct Arrow reads ``fields`` into from the objects at once: timestamps as their text, checked after."""
    import pyarrow as pa

    kinds = {"string": pa.string(), "event_type": pa.string(), "timestamp": pa.string(), "bool": pa.bool_()}
    return pa.struct([pa.field(field.name, kinds[field.kind]) for field in fields])


def _checked(field: Field, arrow_type: pa.DataType, array: pa.Array) -> pa.Array:
    """A scalar column read by Arrow, as stored; :class:`_Irregular` when a value is not stored exactly."""
    import pyarrow.compute as pc

    if field.kind == "timestamp":
        if pc.all(pc.match_substring_regex(array, _CANONICAL_TIME_RE2)).as_py() is False:
            raise _Irregular
        return array.cast(arrow_type)  # a day that does not exist fails the cast: the batch goes record by record
    if field.kind == "event_type" and any(
        plain_event_type(value) != value for value in pc.unique(array).to_pylist() if value is not None
    ):
        raise _Irregular
    return array


# -- writing ------------------------------------------------------------------------------------


class ParquetFiles:
    """The Parquet writers of one pull, one per open file, sharing two memory bounds.

    :meth:`writer` wraps an open binary handle (an atomic write's temporary object). Writers
    keep the records written to them; every ``convert_rows`` records, those of all files
    become one Arrow batch at once (a day-partitioned pull spreads each page over dozens of
    files, and a conversion's cost is mostly per column, not per record), of which each file
    takes its rows, and the records are let go. A file's rows wait for a full row group of
    ``row_group_rows`` (or a quarter of ``buffer_bytes``); when all files hold more than
    ``buffer_bytes`` of Arrow data, the largest is written out as a row group.

    Row groups are encoded and compressed on one background thread (Arrow releases the GIL
    there), in order, at most one waiting behind the one being written; its errors surface at
    the next write or at ``close``.
    """

    def __init__(
        self, row_group_rows: int = ROW_GROUP_ROWS, buffer_bytes: int = BUFFER_BYTES, convert_rows: int = CONVERT_ROWS
    ) -> None:
        require_pyarrow()
        self.row_group_rows = row_group_rows
        self.buffer_bytes = buffer_bytes
        self.convert_rows = convert_rows
        # A row group handed to the encoding thread is out of the shared bound until written: at most
        # two are (one encoding, one waiting), so each is cut at a quarter of it.
        self.row_group_bytes = buffer_bytes // 4
        self._writers: list[_ParquetFile] = []
        self._pending = 0
        self._columns: _Struct | None = None  # the per-record path's, made when a batch first needs it
        self._open = 0
        self._encoder: ThreadPoolExecutor | None = None
        self._encoding: deque[Future[None]] = deque()
        self.failure: BaseException | None = None  # the first failed write: the pull fails with it

    def writer(self, handle: IO[bytes]) -> _ParquetFile:
        file = _ParquetFile(self, handle)
        self._writers.append(file)
        self._open += 1
        return file

    def _encode(self, write: Callable[[], None]) -> None:
        """Run ``write`` on the encoding thread, after every earlier one; wait while another one waits."""
        if self._encoder is None:
            self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lips-parquet")
        self._settle(keep=1)
        self._encoding.append(self._encoder.submit(write))

    def _settle(self, keep: int = 0) -> None:
        """Wait until at most ``keep`` writes are unfinished; the first failed write raises here, once."""
        while self._encoding and (len(self._encoding) > keep or self._encoding[0].done()):
            error = self._encoding.popleft().exception()
            if error is not None and self.failure is None:
                self.failure = error
                raise error

    def _closed(self) -> None:
        self._open -= 1
        if self._open == 0 and self._encoder is not None:
            self._encoder.shutdown(wait=True)
            self._encoder = None

    def _record_columns(self) -> _Struct:
        if self._columns is None:
            self._columns = _record_columns()
        return self._columns

    def _written(self, rows: int) -> None:
        self._pending += rows
        if self._pending >= self.convert_rows:
            self.convert()

    def convert(self) -> None:
        """Turn the records every file holds into one Arrow batch, each file taking its rows."""
        import pyarrow as pa

        files = [file for file in self._writers if file.records]
        if not files:
            return
        with _collector_paused():
            batch = _to_batch_of(list(chain.from_iterable(file.records for file in files)), self._record_columns)
            offset = 0
            for file in files:
                rows = len(file.records)
                file.records = []
                # A file's own copy of its rows: a slice would keep the whole batch alive until that file is written.
                file.add(batch if rows == batch.num_rows else pa.concat_batches([batch.slice(offset, rows)]))
                offset += rows
            self._pending = 0
            while sum(file.nbytes for file in self._writers) > self.buffer_bytes:
                max(self._writers, key=lambda file: file.nbytes).flush()


# Columns with min/max statistics: what queries filter on. Text's would prune nothing, and cost the
# encoding thread time and the files bytes (as statistics of every column cost 12 % of its time).
_STATISTICS_KINDS = frozenset({"int64", "timestamp", "bool", "event_type"})


@lru_cache(maxsize=1)
def _statistics_columns() -> list[str]:
    """The paths, as Parquet names them (``chat.transcript.list.element.id``), of the columns given statistics."""

    def paths(fields: tuple[Field, ...], prefix: str) -> Iterator[str]:
        for field in fields:
            if field.kind in ("struct", "list"):
                yield from paths(field.children, f"{prefix}{field.name}{'.list.element.' if field.kind == 'list' else '.'}")
            elif field.kind in _STATISTICS_KINDS:
                yield prefix + field.name

    return list(paths(FIELDS, ""))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a batch converts (it is the process's: on again after, if it was on).

    A conversion makes no cycles, but its lists and Arrow objects trigger collections that rescan
    the thousands of records held for it (and the pull's pages decoding meanwhile): measured in the
    pull, the collector's time fell from 10.5 to 4.6 us an interaction and the pull's by 6 us.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _ParquetFile:
    """One Parquet file being written: records -> its rows of the pull's Arrow batches -> row groups."""

    def __init__(self, files: ParquetFiles, handle: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.files = files
        self.records: list[dict[str, Any]] = []
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0
        self.nbytes = 0
        self.sink = pa.BufferedOutputStream(pa.PythonFile(handle, mode="w"), buffer_size=SINK_BUFFER_BYTES)
        self.writer = pq.ParquetWriter(
            self.sink, arrow_schema(), compression="zstd", compression_level=1, use_dictionary=True,
            write_statistics=_statistics_columns(),
        )

    def write(self, records: list[dict[str, Any]]) -> None:
        self.records += records
        self.files._written(len(records))

    def add(self, batch: pa.RecordBatch) -> None:
        """Take this file's rows of a converted batch; a full row group is written out."""
        self.batches.append(batch)
        self.rows += batch.num_rows
        self.nbytes += batch.get_total_buffer_size()  # exact for an unsliced batch, and 8x cheaper than nbytes
        if self.rows >= self.files.row_group_rows or self.nbytes >= self.files.row_group_bytes:
            self.flush()

    def flush(self) -> None:
        """Write the buffered batches as one row group."""
        import pyarrow as pa

        if self.records:
            self.files.convert()
        if self.batches:
            table, rows = pa.Table.from_batches(self.batches), self.rows
            self.batches, self.rows, self.nbytes = [], 0, 0
            # One chunk per column: Arrow encodes a row group of many small chunks at half the speed.
            self.files._encode(lambda: self.writer.write_table(table.combine_chunks(), row_group_size=rows))

    def close(self) -> None:
        """Write what is buffered, then the footer; the file is complete (or, after a failed write, discarded)."""
        try:
            if self.files.failure is None:
                self.flush()
                self.files._settle()
                self.writer.close()
                self.sink.detach()  # the last bytes to the handle, which the atomic write closes
            else:  # the pull is failing: its temporary files are removed, nothing more to write
                self.files._settle()
                with suppress(Exception):
                    self.writer.close()
        finally:
            if not self.sink.closed:  # a failing pull: closed now, not by a destructor that would log its error
                with suppress(Exception):
                    self.sink.close()
            self.files._closed()


# -- reading ------------------------------------------------------------------------------------


def read_records(handle: IO[bytes], batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
    """The records a Parquet file written by :class:`ParquetFiles` holds, as the API sent them.

    Reads ``batch_rows`` at a time, so memory does not grow with the file; a file of another
    schema version than this reader's fails clearly.
    """
    require_pyarrow("reading a Parquet file")
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(handle)
    except Exception as err:
        raise LipsValidationError(f"not a readable Parquet file: {err}") from err
    _check_version(parquet.schema_arrow.metadata or {})
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            yield record_from_row(row)


def record_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record one row holds, as the API sent it, from any reader's row as a mapping.

    pyarrow's ``to_pylist()`` and DuckDB's rows (nested types as dicts and lists, timestamps
    as aware datetimes) both work; columns the schema does not name (Hive partition columns
    such as ``gmaid`` and ``occurred_date``) are ignored.
    """
    record: dict[str, Any] = _reader().decode(row)
    return record


@lru_cache(maxsize=1)
def _reader() -> _Struct:
    return _record_columns()


def _check_version(metadata: Mapping[bytes, bytes]) -> None:
    version = metadata.get(METADATA_VERSION, b"").decode() or "none"
    if version != str(SCHEMA_VERSION):
        raise LipsValidationError(
            f"the Parquet file has schema version {version}, this provider reads version {SCHEMA_VERSION}: "
            f"load it with the provider version that wrote it, or re-pull its window."
        )
