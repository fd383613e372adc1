"""One file per day of occurrence: a lake whose partitions never overlap.

A destination whose path holds ``{occurred_date}`` is written as one file per UTC day of the
records' time field (``occurred_at`` for interactions). The pull's window is widened to whole
days, so each file is replaced with exactly that day's records as of this pull, and a reader
selecting partitions never sees a record twice, however much lookback re-pulls. A pull
replaces all of its day files or none of them (:class:`DailyFiles` says what readers see
while it does).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timezone
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.output.storage import atomic_write, partial_path, resolve_destination
from airflow_provider_lips.pull.records import occurred_at
from airflow_provider_lips.pull.window import parse_timestamp

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from airflow_provider_lips.output.formats import RecordFile

log = logging.getLogger(__name__)

OCCURRED_DATE = "{occurred_date}"
_SAMPLE_DAY = "1970-01-01"


@dataclass(frozen=True)
class DailyDestination:
    """``template`` with ``{occurred_date}`` in its path, validated like any destination."""

    template: str

    def path(self, day: date) -> ObjectStoragePath:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(self.template.replace(OCCURRED_DATE, day.isoformat()))

    def __str__(self) -> str:
        return self.template


def daily_destination(value: Any) -> DailyDestination | None:
    """A :class:`DailyDestination` when ``value`` is a URI holding ``{occurred_date}``, else None."""
    if not isinstance(value, str) or OCCURRED_DATE not in value:
        return None
    template = value.strip()
    if template.count(OCCURRED_DATE) != 1 or "://" in template.partition(OCCURRED_DATE)[2]:
        raise LipsValidationError(
            f"destination {template!r} must hold {OCCURRED_DATE} once, in its path, e.g. "
            f"'s3://aws_default@bucket/lips/gmaid=USA_1/occurred_date={OCCURRED_DATE}/contact_interactions.jsonl'."
        )
    try:
        resolve_destination(template.replace(OCCURRED_DATE, _SAMPLE_DAY))
    except LipsValidationError as err:
        raise LipsValidationError(str(err).replace(_SAMPLE_DAY, OCCURRED_DATE)) from None
    return DailyDestination(template)


def day_of(record: dict[str, Any], time_field: str) -> date:
    """The UTC day a record belongs to (``occurred_at``, or its documented misspelling)."""
    value = occurred_at(record) if time_field == "occurred_at" else record.get(time_field)
    return parse_timestamp(str(value)).astimezone(timezone.utc).date()


class DailyFiles:
    """Open one atomic write per day; ``write`` sorts records into them; leaving commits all or none.

    Every day gets its file, empty when nothing occurred that day, so a day whose records the
    vendor has since removed is replaced too. What a reader can rely on:

    - every file is whole at every moment: the previous one or the new one, never a part;
    - after the block, either every day holds this pull's file, or (on any error, while
      writing or while the files are moved into place) every day is as it was before: the
      commit first copies each existing day file aside, and if moving a new file into place
      fails, the days already moved get their previous file back and days that had none lose
      the new one; the copies are removed either way;
    - during the commit (one rename per day), a reader of several days may see some new and
      some old. A worker killed outright at that moment leaves such a mix, each file whole;
      the next pull of those days replaces them, and its writes remove the copies left behind.
    """

    def __init__(
        self, destination: DailyDestination, days: list[date], time_field: str, open_file: Callable[[IO[bytes]], RecordFile]
    ) -> None:
        self.destination = destination
        self.days = days
        self.time_field = time_field
        self.open_file = open_file  # the format: JSON Lines or Parquet (airflow_provider_lips.output.formats)
        self.counts: dict[date, int] = dict.fromkeys(days, 0)
        self._stack = ExitStack()
        self._files: dict[date, RecordFile] = {}

    def __enter__(self) -> DailyFiles:
        with ExitStack() as opening:
            opening.enter_context(self._stack)
            for day in self.days:
                self._files[day] = self.open_file(self._stack.enter_context(atomic_write(self.destination.path(day))))
            # Unwound first: every file is complete (a Parquet footer written) before any is moved into place.
            for file in self._files.values():
                self._stack.callback(file.close)
            opening.pop_all()
        return self

    def __exit__(self, *exc: Any) -> bool:
        if exc[0] is not None:
            return bool(self._stack.__exit__(*exc))  # removes every temporary object
        backups: dict[date, ObjectStoragePath] = {}
        try:
            for day in self.days:
                path = self.destination.path(day)
                if path.exists():
                    backups[day] = partial_path(path)
                    path.fs.copy(path.path, backups[day].path)
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            self._discard(backups)
            raise
        try:
            self._stack.close()  # moves each day's new file into place
        except BaseException:
            self._restore(backups)
            raise
        self._discard(backups)
        return False

    def _restore(self, backups: dict[date, ObjectStoragePath]) -> None:
        """After a failed commit: every day back as it was (its previous file, or none)."""
        for day in self.days:
            path = self.destination.path(day)
            try:
                if day in backups:
                    backups[day].rename(path)
                else:
                    path.unlink(missing_ok=True)
            except Exception as err:  # the commit's own error is the one raised
                log.error("Could not put back the previous %s after a failed commit: %s", path, err)

    @staticmethod
    def _discard(backups: dict[date, ObjectStoragePath]) -> None:
        for backup in backups.values():
            try:
                backup.unlink(missing_ok=True)
            except Exception as err:  # a later write to the same day removes it (remove_leftovers)
                log.warning("Could not remove the copy %s: %s", backup, err)

    def write(self, records: list[dict[str, Any]]) -> None:
        groups: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            groups[day_of(record, self.time_field)].append(record)
        for day, group in groups.items():
            self._files[day].write(group)
            self.counts[day] += len(group)

    def files(self) -> list[tuple[date, str, int]]:
        """(day, uri, records) of every file, in day order."""
        return [(day, str(self.destination.path(day)), self.counts[day]) for day in self.days]
