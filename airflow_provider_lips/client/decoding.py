"""Decode an answer's JSON, turning every decoder failure into the provider's error that names the request.

msgspec follows nesting as deep as Python's recursion limit (1,000 levels by default) and raises
a bare ``RecursionError`` beyond it: a record nested 100,000 arrays deep ended a task with that
traceback. No LIPS record nests more than a few levels, so anything the decoder cannot follow
is an answer the client cannot trust: a :class:`~airflow_provider_lips.exceptions.LipsResponseError`
naming the method, path and query (never a secret: those travel in headers), with nothing written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import msgspec

from airflow_provider_lips.exceptions import LipsResponseError

__all__ = ["decode_json"]

_QUOTED = 2000  # bytes of the body an excerpt is made from: enough for a message, never a whole page decoded


def decode_json(content: bytes, *, what: str, status: int, excerpt: Callable[[str], str]) -> Any:
    """``content`` parsed as JSON, or :class:`LipsResponseError` saying which request answered what.

    ``excerpt`` turns the start of the body into what a message may quote (redacted, or withheld
    under a PII policy).
    """
    try:
        return msgspec.json.decode(content)
    except RecursionError:
        raise LipsResponseError(
            f"{what} answered {status} with JSON nested deeper than {sys.getrecursionlimit()} levels, more than the "
            f"decoder follows (a LIPS record nests a few): {len(content)} bytes beginning "
            f"{excerpt(content[:60].decode('utf-8', 'replace'))!r}"
        ) from None
    except (msgspec.DecodeError, ValueError) as err:
        raise LipsResponseError(
            f"{what} answered {status} with a body that is not JSON: "
            f"{excerpt(content[:_QUOTED].decode('utf-8', 'replace'))!r} ({err})"
        ) from err
