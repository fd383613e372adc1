"""An overall deadline for one answer, status line and headers included.

:func:`~airflow_provider_lips.client.bounds.read_body` checks ``response_deadline`` while it
reads the body, but the status line and headers are read by ``http.client`` first, each socket
read bounded only by ``request_timeout``: a server that sends them one byte every two seconds
never times out. So each request is watched: the connections of :class:`WatchedAdapter` note
the socket they send on, and a timer armed for ``response_deadline`` shuts that socket down if
the answer is not complete by then, which ends the blocked read. :func:`answer_within` then
reports the failure as :class:`~airflow_provider_lips.client.bounds.AnswerDeadlineExceeded`,
retried like a hang.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_lips.client.bounds import AnswerDeadlineExceeded, read_body

__all__ = ["WatchedAdapter", "answer_within"]

_active = threading.local()  # .watch: the _Watch of the request this thread is sending, if any


class _Watch:
    """One request's timer and the socket it is using; shuts the socket down at the deadline."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._sock: Any = None
        self.fired = False
        self._done = False
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: Any) -> None:
        """The request now uses ``sock`` (a new connection, or one from the pool); past the deadline, end it now."""
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)

    def disarm(self) -> bool:
        """Stop the timer (no shutdown can follow; its thread ends at once, unwaited); whether it fired."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self.fired


def _shut(sock: Any) -> None:
    """End every read blocked on ``sock``: the peer appears to have closed."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _note(sock: Any) -> None:
    watch: _Watch | None = getattr(_active, "watch", None)
    if watch is not None and sock is not None:
        watch.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """Tells the current request's watch which socket it sends on."""

    def connect(self) -> None:
        super().connect()
        _note(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self.sock)  # a kept-alive connection (a new one notes its socket in connect)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """The https twin of :class:`_WatchedHTTPConnection`."""

    def connect(self) -> None:
        super().connect()
        _note(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections can be shut down by :func:`answer_within`'s timer.

    The pool manager gets its own pool classes (urllib3's module-level table is left alone).
    Connections through a proxy are not watched: their headers stay bounded per read only.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def answer_within(
    send: Callable[[], requests.Response], *, max_bytes: int, deadline: float, what: str
) -> requests.Response:
    """``send()`` (a ``stream=True`` request through a :class:`WatchedAdapter`) and read its body, all within ``deadline``.

    Any failure after the timer fired (a dropped connection, a cut body) is the deadline's:
    :class:`AnswerDeadlineExceeded`. Redirects followed by ``send`` share the one deadline.
    """
    sent = time.monotonic()
    outer, watch = getattr(_active, "watch", None), _Watch(deadline)
    _active.watch = watch  # outer: a request sent while this one is prepared (an OAuth2 token)
    response: requests.Response | None = None
    try:
        response = send()
        read_body(response, max_bytes=max_bytes, deadline=deadline, sent=sent, what=what)
        if watch.disarm():  # ended by the shutdown, perhaps short: not an answer to trust
            raise _late(sent, deadline, response)
        return response
    except AnswerDeadlineExceeded:  # read_body's own, which counts the body's bytes
        raise
    except Exception as err:
        if watch.disarm():
            raise _late(sent, deadline, response) from err
        raise
    finally:
        watch.disarm()
        _active.watch = outer


def _late(sent: float, deadline: float, response: requests.Response | None) -> AnswerDeadlineExceeded:
    part = "its status line and headers" if response is None else "its body"
    return AnswerDeadlineExceeded(
        f"the answer was not complete after {time.monotonic() - sent:.1f}s, past response_deadline={deadline:g}s: "
        f"{part} still arriving"
    )
