"""Errors the provider raises, grouped by whether another Airflow task try can help.

Subclasses of ``AirflowFailException`` end the task at once without spending its
``retries``: bad arguments, rejected credentials and requests the server calls invalid
fail the same way on every try. The others are plain ``AirflowException`` so Airflow's
task retries apply to them.
"""

from __future__ import annotations

try:
    # "X as X": re-exported on purpose (tests and callers catch AirflowFailException from here).
    from airflow.sdk.exceptions import AirflowException as AirflowException
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
except ImportError:  # Airflow < 3.1 keeps them in core only
    from airflow.exceptions import AirflowException as AirflowException  # type: ignore[attr-defined]
    from airflow.exceptions import AirflowFailException as AirflowFailException  # type: ignore[no-redef]


class LipsValidationError(AirflowFailException, ValueError):
    """An argument or connection field is unusable; raised before any request is sent."""


class LipsApiError(AirflowFailException):
    """The API refused the request (400, 401, 403, 404, 422): retrying cannot help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LipsTlsError(AirflowFailException):
    """The TLS handshake with the LIPS host failed (plain HTTP on the port, an untrusted certificate):
    it fails the same way on every try, so neither the request nor the task is retried."""


class LipsTransientError(AirflowException):
    """A request kept failing with 429, 5xx or a network error after every allowed attempt."""


class LipsRateBudgetError(AirflowException):
    """The rate budget shared by every process on the credentials cannot be reached (e.g. Redis is down).

    Requests stop rather than fall back to unshared pacing; another task try may find it back.
    """


class LipsResponseError(AirflowException):
    """The API answered 2xx with a body the client cannot trust (not JSON, wrong shape, wrong page)."""


class LipsIncompleteError(AirflowException):
    """The pulled interactions do not add up to what ``/contact_interactions/totals`` reports."""


class LipsXComLimitError(AirflowFailException):
    """A window holds more records than the operator may return to XCom (``xcom_max_records``).

    Found while pulling, so requests have been sent; the same window fails the same way on
    every try: write to a ``destination`` instead, or raise the limit.
    """


class LipsLoadError(AirflowException):
    """A file could not be loaded and nothing was written; the message names file and line.

    Raised as such for database errors, which another task try may get past.
    """


class LipsBadFileError(LipsLoadError, AirflowFailException):
    """The file itself is unusable (bad record, fewer records than promised): retrying cannot help."""


class LipsBatchError(AirflowException):
    """Some advertisers of a batch failed while the others landed and loaded; the message names each failure.

    Raised when another try may help one of them; a retry pulls only the failed advertisers (Airflow 3.3+).
    """


class LipsBatchFailedError(LipsBatchError, AirflowFailException):
    """As :class:`LipsBatchError`, when no failure is one another try can fix (403, a bad file): no retries are
    spent; fix the cause and clear the task, which pulls only the failed advertisers (Airflow 3.3+)."""
