"""A pull as a Python iterator: records yielded as pages arrive, memory bounded, stoppable.

:meth:`Pull.run <airflow_provider_lips.pull.engine.Pull.run>` pushes each page's kept records
into a sink; a caller who wants to loop over records instead gets them here. The pull runs in
one worker thread and hands pages over through a small queue, so at most ``buffered_pages``
pages wait for the caller; leaving the loop early stops the pull before its next page.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import Any

from airflow_provider_lips.pull.engine import Pull

_DONE = object()  # the worker's last item: the pull ended, well or not


class _Stopped(Exception):
    """The caller left the loop: the pull stops at its next page."""


def stream_records(pull: Pull, *, buffered_pages: int = 2) -> Generator[dict[str, Any], None, None]:
    """Every record ``pull`` keeps, in the order its sink would get them; its error, if any, at the end.

    Resolve whatever reads Airflow connections (the hook's settings and rate budget, a PII
    key) before iterating: the requests are sent from a worker thread.
    """
    pages: queue.Queue[Any] = queue.Queue(maxsize=buffered_pages)
    stop = threading.Event()
    failure: list[BaseException] = []

    def sink(records: list[dict[str, Any]]) -> None:
        if stop.is_set():
            raise _Stopped
        pages.put(records)

    def work() -> None:
        try:
            pull.run(sink)
        except _Stopped:
            pass
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)
        finally:
            pages.put(_DONE)

    worker = threading.Thread(target=work, name="lips-pull", daemon=True)
    worker.start()
    finished = False
    try:
        while (page := pages.get()) is not _DONE:
            yield from page
        finished = True
    finally:
        if not finished:  # the caller left early: unblock the worker and let it stop
            stop.set()
            while pages.get() is not _DONE:
                pass
        worker.join()
    if failure:
        raise failure[0]
