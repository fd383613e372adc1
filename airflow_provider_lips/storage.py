"""Where a pull's JSON Lines go: validated object-storage paths and all-or-nothing writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO
from urllib.parse import urlsplit
from uuid import uuid4

from fsspec.registry import known_implementations

from airflow.sdk import ObjectStoragePath
from airflow_provider_lips.exceptions import LipsValidationError

_EXAMPLES = "e.g. 'file:///data/lips/interactions.jsonl' or 's3://aws_default@my-bucket/lips/interactions.jsonl'"
_LOCAL_SCHEMES = ("", "file", "local")


def resolve_destination(value: str | ObjectStoragePath) -> ObjectStoragePath:
    """Check a destination names one file in a storage Airflow can write to, without touching it."""
    raw = str(value).strip() if isinstance(value, (str, ObjectStoragePath)) else None
    if not raw:
        raise LipsValidationError(f"destination must be a URI or ObjectStoragePath naming a file, {_EXAMPLES}; got {value!r}.")
    if any(ch in raw for ch in "\r\n\t\x00"):
        raise LipsValidationError(f"destination {raw!r} contains control characters; remove them.")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in _LOCAL_SCHEMES and scheme not in known_implementations:
        raise LipsValidationError(f"destination scheme {scheme!r} is not supported by Airflow object storage; use {_EXAMPLES}.")
    if scheme in _LOCAL_SCHEMES:
        if parts.netloc not in ("", "localhost"):
            raise LipsValidationError(
                f"destination {raw!r} names host {parts.netloc!r}; a local file URI has three slashes: 'file:///absolute/path.jsonl'."
            )
        if not parts.path.startswith("/"):
            raise LipsValidationError(f"destination {raw!r} is a relative path; use an absolute one, {_EXAMPLES}.")
    elif not parts.netloc or parts.path in ("", "/"):
        raise LipsValidationError(f"destination {raw!r} names no object inside the bucket; {_EXAMPLES}.")
    if ".." in parts.path.split("/"):
        raise LipsValidationError(f"destination {raw!r} contains a '..' segment; name the target folder directly.")
    if parts.path.endswith("/"):
        raise LipsValidationError(f"destination {raw!r} names a folder; add a file name such as 'interactions.jsonl'.")
    return value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(raw)


@contextmanager
def atomic_write(destination: ObjectStoragePath) -> Iterator[IO[bytes]]:
    """Write to a hidden temporary object beside ``destination``, then move it into place.

    Readers see either the previous complete file or the new complete one; on any error
    the temporary object is removed and ``destination`` is left as it was.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.parent / f".{destination.name}.{uuid4().hex[:12]}.partial"
    try:
        # Through the filesystem directly: ObjectStoragePath.open() would report every write
        # to Airflow's hook-lineage collector; the operator reports lineage once instead.
        with partial.fs.open(partial.path, "wb") as handle:
            yield handle
        partial.rename(destination)
    except BaseException:
        with suppress(Exception):
            partial.unlink(missing_ok=True)
        raise
