"""Bounds on one answer, enforced while it is read: at most ``max_response_bytes``, within ``response_deadline``.

``request_timeout`` bounds each socket read, not the answer: a server that sends its headers
and then one byte every two seconds never times out, and one that sends 1.5 GB is read into
memory whole. So every answer is streamed: its body is read in pieces of at most 64 KiB,
counted (decompressed bytes, so a gzip bomb counts at its real size) and refused past the size
bound, and the clock is checked after every piece, from the moment the request was sent.

- Too large (a ``Content-Length`` above the bound, or that many bytes read): :class:`AnswerTooLarge`,
  a :class:`~airflow_provider_lips.exceptions.LipsResponseError`, not retried: the same request
  gets the same answer.
- Too slow: :class:`AnswerDeadlineExceeded`, a ``requests.Timeout``, retried like a hang
  (the requester's retry policy applies to both alike).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from airflow_provider_lips.exceptions import LipsResponseError

__all__ = ["AnswerDeadlineExceeded", "AnswerTooLarge", "network_problem", "read_body", "redirect_bound"]

_PIECE = 1 << 16
MiB = 1 << 20


class AnswerTooLarge(LipsResponseError):
    """An answer larger than ``max_response_bytes``: refused, not retried."""


class AnswerDeadlineExceeded(requests.Timeout):
    """An answer (headers and body) not complete within ``response_deadline``: retried like a timeout."""


def network_problem(err: BaseException) -> str:
    """How a retried network failure is named in the requester's messages: its type, and for a missed
    answer deadline also how long and which setting, so the message points at the knob."""
    return f"{type(err).__name__} ({err})" if isinstance(err, AnswerDeadlineExceeded) else type(err).__name__


def _size(count: int) -> str:
    return f"{count / MiB:.1f} MiB" if count >= MiB else f"{count} bytes"


def read_body(response: requests.Response, *, max_bytes: int, deadline: float, sent: float, what: str) -> None:
    """Read ``response``'s body (opened with ``stream=True``) within the bounds; the body is then ``response.content``.

    ``sent`` is the ``time.monotonic()`` at which the request went out; ``deadline`` the seconds
    the whole answer may take from then. On any failure the connection is closed, never reused,
    and nothing of the body is kept.
    """
    try:
        declared = int(response.headers.get("Content-Length", ""))
    except ValueError:
        declared = None
    if declared is not None and declared > max_bytes:
        response.close()
        raise AnswerTooLarge(
            f"{what} answered {response.status_code} with a body of {_size(declared)} (Content-Length), more than "
            f"max_response_bytes={max_bytes} ({_size(max_bytes)}); nothing was read. No LIPS page is that large: "
            f"check the base URL, or raise extra 'max_response_bytes' if you really mean it."
        )
    raw: Any = response.raw
    read = getattr(raw, "read1", None) or raw.read  # read1: returns what has arrived, so the clock is checked often
    pieces: list[bytes] = []
    count = 0
    try:
        while True:
            if time.monotonic() - sent > deadline:
                raise _late(sent, deadline, count)
            try:
                piece = _read(read, what)
            except Exception as err:
                if time.monotonic() - sent > deadline:  # the read was ended by the watchdog (client/watchdog.py)
                    raise _late(sent, deadline, count) from err
                raise
            if not piece:
                break
            count += len(piece)
            if count > max_bytes:
                raise AnswerTooLarge(
                    f"{what} answered {response.status_code} with a body larger than max_response_bytes={max_bytes} "
                    f"({_size(max_bytes)}); reading stopped there after {time.monotonic() - sent:.1f}s. No LIPS page "
                    f"is that large: check the base URL, or raise extra 'max_response_bytes' if you really mean it."
                )
            pieces.append(piece)
    except BaseException:
        response.close()  # drops the connection: the rest of the body is never read
        raise
    response._content = b"".join(pieces)
    response._content_consumed = True
    response.close()  # with the body consumed, this returns the connection to the pool


def _late(sent: float, deadline: float, count: int) -> AnswerDeadlineExceeded:
    return AnswerDeadlineExceeded(
        f"the answer was not complete after {time.monotonic() - sent:.1f}s, past response_deadline={deadline:g}s, "
        f"with {_size(count)} of its body"
    )


def _read(read: Any, what: str) -> bytes:
    """One piece of the body, with urllib3's errors as requests names them (as ``Response.iter_content`` does)."""
    try:
        return bytes(read(_PIECE))
    except ProtocolError as err:
        raise requests.exceptions.ChunkedEncodingError(err) from err
    except ReadTimeoutError as err:
        raise requests.exceptions.ConnectionError(err) from err
    except Urllib3SSLError as err:
        raise requests.exceptions.SSLError(err) from err
    except DecodeError as err:
        raise LipsResponseError(f"{what} answered a compressed body that does not decompress: {err}") from err


def redirect_bound(max_bytes: int, deadline: float) -> Any:
    """A ``requests`` response hook reading each redirect's body within the same bounds.

    requests reads a redirect's body whole (to free its connection) before it follows the
    ``Location``; the hook runs first, so a 302 with a runaway or trickling body is refused
    like any other answer. The clock starts when the redirected request was sent.
    """

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.is_redirect and not response._content_consumed:
            sent = time.monotonic() - response.elapsed.total_seconds()
            what = f"{response.request.method} {urlsplit(response.url).path} (a redirect)"
            read_body(response, max_bytes=max_bytes, deadline=deadline, sent=sent, what=what)
        return response

    return hook
