"""Where a pull's JSON Lines go: validated object-storage paths and all-or-nothing writes."""

from __future__ import annotations

import importlib
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from uuid import uuid4

from fsspec.registry import known_implementations

from airflow.sdk import ObjectStoragePath
from airflow_provider_lips.exceptions import LipsValidationError

_EXAMPLES = "e.g. 'file:///data/lips/interactions.jsonl' or 's3://aws_default@my-bucket/lips/interactions.jsonl'"
_LOCAL_SCHEMES = ("", "file", "local")
# The provider's own extras that install a scheme's filesystem.
_EXTRAS = {"s3": "s3", "s3a": "s3"}
# Who writes a temporary object, in its name: lets a later write tell a dead writer's leftover
# from a live one's on the same machine (host names reduced to what object keys keep safely).
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]

log = logging.getLogger(__name__)


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
    if scheme not in _LOCAL_SCHEMES:
        _check_filesystem(raw, scheme)
    return value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(raw)


def _check_filesystem(raw: str, scheme: str) -> None:
    """Fail now, not deep inside the write, when the scheme's filesystem is not installed."""
    from airflow.sdk.io.fs import has_fs

    package = str(known_implementations.get(scheme, {}).get("class", "")).partition(".")[0]
    extra = _EXTRAS.get(scheme)
    fix = (
        f"pip install 'airflow-provider-lips[{extra}]'" if extra
        else f"install the Airflow provider that registers {scheme}:// object storage" + (f" and {package}" if package else "")
    )
    installed = has_fs(scheme)
    if installed and package:
        try:
            importlib.import_module(package)
        except ImportError:
            installed = False
    if not installed:
        raise LipsValidationError(f"destination {raw!r}: no {scheme}:// filesystem is installed; {fix}.")


def check_storage_connection(value: str | ObjectStoragePath) -> None:
    """The Airflow connection a storage URI names (``s3://<conn_id>@bucket/...``) must exist.

    Without this check the filesystem would fall back to ambient credentials, and a typo in
    the connection id would surface only at the write, after the whole pull. For the same
    reason a filesystem that finds no credentials at all (anonymous access) is refused.
    """
    raw = str(value)
    conn_id = getattr(value, "conn_id", None) or urlsplit(raw).username
    scheme = urlsplit(raw).scheme.lower()
    if conn_id and scheme not in _LOCAL_SCHEMES:
        from airflow.sdk import BaseHook

        try:
            from airflow.sdk.exceptions import AirflowNotFoundException
        except ImportError:  # Airflow < 3.2
            from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]

        try:
            BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise LipsValidationError(
                f"destination {raw!r} names the storage connection {conn_id!r}, which does not exist: create it "
                f"(e.g. an 'aws' connection for s3://), or name an existing one as '{scheme}://<conn_id>@<bucket>/...'."
            ) from None
    if scheme not in _LOCAL_SCHEMES and _anonymous(value):
        where = f"the storage connection {conn_id!r}" if conn_id else "no storage connection (none is named)"
        raise LipsValidationError(
            f"destination {raw!r} would be written without credentials: {where} and this worker's environment give "
            f"none, so the write would fail only after the whole pull. Name an Airflow connection that holds them, as "
            f"'{scheme}://<conn_id>@<bucket>/...' (e.g. an 'aws' connection for s3://), or give the worker credentials "
            f"(for s3://: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS profile, or an instance role)."
        )


def _anonymous(value: str | ObjectStoragePath) -> bool:
    """Whether the filesystem Airflow builds for ``value`` found no credentials and fell back to anonymous
    access (the Amazon provider does so for s3://), which no write to a private bucket survives."""
    path = value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(str(value).strip())
    return getattr(path.fs, "anon", False) is True


@contextmanager
def atomic_write(destination: ObjectStoragePath) -> Iterator[IO[bytes]]:
    """Write to a hidden temporary object beside ``destination``, then move it into place.

    Readers see either the previous complete file or the new complete one; on any error
    the temporary object is removed and ``destination`` is left as it was. A writer killed
    outright (SIGKILL, OOM, a lost node) cannot clean up: the next successful write to the
    same target removes what such writers left (see :func:`remove_leftovers`).
    """
    started = time.time()
    local = destination.protocol in _LOCAL_SCHEMES
    partial = partial_path(destination)
    opened = False
    try:
        if local:
            # Local folders only: on object storage a "folder" is a key prefix, and mkdir(parents=True)
            # would create the bucket.
            destination.parent.mkdir(parents=True, exist_ok=True)
        # Through the filesystem directly: ObjectStoragePath.open() would report every write
        # to Airflow's hook-lineage collector; the operator reports lineage once instead.
        with partial.fs.open(partial.path, "wb") as handle:
            opened = True
            yield handle
        partial.rename(destination)
    except BaseException as err:
        with suppress(Exception):
            partial.unlink(missing_ok=True)
        if local and not opened and isinstance(err, OSError):  # before the first record: the folder is unusable
            raise LipsValidationError(_unwritable(destination, err)) from None
        if isinstance(err, FileNotFoundError) and destination.protocol not in _LOCAL_SCHEMES:
            raise LipsValidationError(
                f"Could not write {destination}: {err}. The provider never creates buckets or containers: "
                f"create {urlsplit(str(destination)).hostname!r} or point the destination at an existing one."
            ) from err
        raise
    remove_leftovers(destination, started)


def partial_path(destination: ObjectStoragePath) -> ObjectStoragePath:
    """A hidden temporary sibling of ``destination`` named after this writer, which
    :func:`remove_leftovers` removes once the writer is gone."""
    return destination.parent / f".{destination.name}.{uuid4().hex[:12]}-{os.getpid()}-{_HOST}.partial"


def _unwritable(destination: ObjectStoragePath, err: OSError) -> str:
    """Why a local destination's folder cannot be created or written, and the fix."""
    folder = Path(destination.parent.path)
    blocking = next((path for path in (folder, *folder.parents) if path.exists() and not path.is_dir()), None)
    if blocking is not None:
        reason = f"{blocking} is a file, not a folder"
    else:
        reason = f"the system refused to create or write in the folder {err.filename or folder} ({err.strerror or err})"
    return (
        f"destination {str(destination)!r} cannot be written: {reason}. Point destination at a folder this worker "
        f"may create and write in, {_EXAMPLES}."
    )


def remove_leftovers(destination: ObjectStoragePath, started: float) -> list[str]:
    """Remove the ``.partial`` siblings of ``destination`` that killed writers left; return their paths.

    A sibling goes only if it was last modified before ``started`` (the moment the write that
    just replaced ``destination`` began) and, when its writer ran on this machine, that
    process is gone: a concurrent writer's temporary object is never touched. Best effort:
    a failure to list or remove is logged, never raised, since the write itself succeeded.
    """
    pattern = re.compile(rf"\.{re.escape(destination.name)}\.[0-9a-f]{{12}}(?:-(\d+)-([A-Za-z0-9-]*))?\.partial")
    removed: list[str] = []
    fs = destination.fs
    try:
        siblings = fs.ls(destination.parent.path, detail=True)
    except Exception as err:
        log.warning("Could not list %s to remove leftover temporary files: %s", destination.parent, err)
        return removed
    for info in siblings:
        path = str(info.get("name", ""))
        found = pattern.fullmatch(path.rstrip("/").rpartition("/")[2])
        if not found or not _older_than(info, started) or _writer_alive(found.group(1), found.group(2)):
            continue
        try:
            fs.rm_file(path)
        except FileNotFoundError:
            continue
        except Exception as err:
            log.warning("Could not remove leftover temporary file %s: %s", path, err)
            continue
        removed.append(path)
        log.info("Removed %s, left by a writer that did not finish.", path)
    return removed


def _older_than(info: dict[str, Any], moment: float) -> bool:
    """Whether a listed object was last modified before ``moment``; unknown times count as new."""
    modified = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(modified, datetime):
        modified = modified.timestamp()
    return isinstance(modified, (int, float)) and modified < moment


def _writer_alive(pid: str | None, host: str | None) -> bool:
    """True when the writer ran on this machine and its process still exists (or cannot be checked)."""
    if pid is None or host != _HOST:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True
