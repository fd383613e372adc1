"""What a load reads: the files a source (URI, path or pull manifest) names, and the records in them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsBadFileError, LipsValidationError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["file_manifests", "file_records", "json_lines", "resolve_source"]


def file_manifests(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each file of a one-file-per-day pull as a manifest of its own: the pull's fields, the file's uri,
    records and window (so that a load brings exactly that day in line with the vendor)."""
    files = manifest["files"]
    if not isinstance(files, list) or not all(isinstance(f, Mapping) and isinstance(f.get("uri"), str) for f in files):
        raise LipsValidationError(f"source manifest 'files' must be a list of objects with a 'uri', got {files!r}")
    shared = {key: value for key, value in manifest.items() if key not in ("files", "destination")}
    return [{**shared, **entry} for entry in files]


def resolve_source(
    source: str | ObjectStoragePath | Mapping[str, Any],
) -> tuple[ObjectStoragePath, str, int | None]:
    """Turn any accepted ``source`` into a path, its URI and the record count a manifest promises."""
    from airflow.sdk import ObjectStoragePath

    expected: int | None = None
    if isinstance(source, Mapping):
        records = source.get("records")
        if records is not None and (isinstance(records, bool) or not isinstance(records, int) or records < 0):
            raise LipsValidationError(f"source manifest 'records' must be a non-negative integer, got {records!r}")
        expected = records
        source = source.get("uri")  # type: ignore[assignment]
        if not isinstance(source, (str, ObjectStoragePath)):
            raise LipsValidationError(f"source manifest needs a 'uri' string naming the JSON Lines file, got {source!r}")
    if isinstance(source, ObjectStoragePath):
        return source, str(source), expected
    if isinstance(source, str) and source.strip():
        return ObjectStoragePath(source), source, expected
    raise LipsValidationError(
        "source must be a URI string, an ObjectStoragePath or a manifest dict with 'uri', "
        f"got {type(source).__name__}: {source!r}"
    )


def file_records(handle: IO[bytes], uri: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of a pulled file with their line (JSON Lines) or row (Parquet) number from 1.

    The format is told by the file's first bytes, whatever its name; a Parquet file yields
    exactly the records its JSON Lines twin would (see :mod:`airflow_provider_lips.output.parquet`).
    """
    from airflow_provider_lips.output.parquet import is_parquet, read_records, require_pyarrow

    head = handle.read(4)
    handle.seek(0)
    if not is_parquet(head):
        yield from json_lines(handle, uri)
        return
    require_pyarrow("loading a Parquet file")
    try:
        yield from enumerate(read_records(handle), start=1)
    except (LipsValidationError, OSError, ValueError) as exc:  # pyarrow's errors are OSError/ValueError subclasses
        raise LipsBadFileError(f"{uri}: {exc}") from exc


def json_lines(handle: IO[bytes], uri: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON object on each non-blank line, with its line number; ``uri`` names the file in errors."""
    for line_no, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:  # includes undecodable bytes
            raise LipsBadFileError(f"{uri}:{line_no}: not a JSON line: {exc}") from exc
        if not isinstance(record, dict):
            raise LipsBadFileError(f"{uri}:{line_no}: expected a JSON object, got {type(record).__name__}")
        yield line_no, record
