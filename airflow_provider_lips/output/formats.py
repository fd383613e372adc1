"""The file formats a pull writes: JSON Lines (the default) and Parquet, chosen by argument or suffix."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, Literal, Protocol

import msgspec

from airflow_provider_lips.exceptions import LipsValidationError

OutputFormat = Literal["jsonl", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jsonl", "parquet")
# One compact UTF-8 JSON object per line, keys in the order the API sent them.
_ENCODE_LINES = msgspec.json.Encoder().encode_lines


class RecordFile(Protocol):
    """One file being written: batches of records in, ``close`` once they are all in."""

    def write(self, records: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class LinesFile:
    """JSON Lines: each batch is encoded and written at once; nothing is held."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def write(self, records: list[dict[str, Any]]) -> None:
        self.handle.write(_ENCODE_LINES(records))

    def close(self) -> None:
        """Nothing buffered: the atomic write's commit completes the file."""


def check_output_format(value: Any) -> OutputFormat | None:
    """``"jsonl"``, ``"parquet"`` or None (the destination's suffix decides); anything else fails, naming the parameter."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lower() in OUTPUT_FORMATS:
        chosen: OutputFormat = "parquet" if value.strip().lower() == "parquet" else "jsonl"
        return chosen
    raise LipsValidationError(
        f"output_format must be one of {list(OUTPUT_FORMATS)} or unset (a destination ending in '.parquet' writes "
        f"Parquet, any other JSON Lines), got {value!r}."
    )


def resolve_output_format(output_format: Any, destination: Any) -> OutputFormat:
    """The format to write: ``output_format`` when given, else Parquet for a ``.parquet`` destination.

    Parquet needs pyarrow (the ``parquet`` extra): checked here, before any request.
    """
    chosen = check_output_format(output_format)
    if chosen is None:
        chosen = "parquet" if str(destination or "").strip().lower().endswith(".parquet") else "jsonl"
    if chosen == "parquet":
        if destination in (None, ""):
            raise LipsValidationError(
                "output_format 'parquet' needs a destination to write to (records returned through XCom are JSON); "
                "set destination, e.g. 'file:///data/lips/gmaid=USA_1/occurred_date={occurred_date}/contact_interactions.parquet'."
            )
        from airflow_provider_lips.output.parquet import require_pyarrow

        require_pyarrow()
    return chosen


def file_opener(output_format: OutputFormat) -> Callable[[IO[bytes]], RecordFile]:
    """What turns an open handle into a :class:`RecordFile` of ``output_format``; one per pull.

    The Parquet files of one pull share one memory bound (see :class:`~airflow_provider_lips.output.parquet.ParquetFiles`).
    """
    if output_format == "parquet":
        from airflow_provider_lips.output.parquet import ParquetFiles

        return ParquetFiles().writer
    return LinesFile
