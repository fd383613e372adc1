"""DailyFiles over real files: every day's file replaced, or (on an error while committing) none of them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow.sdk import ObjectStoragePath
from airflow_provider_lips.output.formats import LinesFile
from airflow_provider_lips.output.partitions import DailyFiles, daily_destination

DAYS = [date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)]
ENCODE = msgspec.json.Encoder().encode_lines


def record(day: date, n: int) -> dict[str, Any]:
    return {"id": f"{day.isoformat()}-{n}", "occurred_at": f"{day.isoformat()}T12:00:0{n}Z"}


def lake(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def write_days(root: Path) -> DailyFiles:
    destination = daily_destination(f"file://{root}/occurred_date={{occurred_date}}/interactions.jsonl")
    assert destination is not None
    with DailyFiles(destination, DAYS, "occurred_at", LinesFile) as daily:
        daily.write([record(day, n) for day in DAYS for n in range(2)])
    return daily


@pytest.fixture
def old_lake(tmp_path: Path) -> dict[str, bytes]:
    """The first two days as an earlier pull left them; the third day has no file yet."""
    for day in DAYS[:2]:
        folder = tmp_path / f"occurred_date={day.isoformat()}"
        folder.mkdir()
        (folder / "interactions.jsonl").write_bytes(ENCODE([record(day, 9)]))
    return lake(tmp_path)


def test_a_commit_replaces_every_day_and_leaves_no_copies(tmp_path: Path, old_lake: dict[str, bytes]) -> None:
    daily = write_days(tmp_path)
    assert lake(tmp_path) == {
        f"occurred_date={day.isoformat()}/interactions.jsonl": ENCODE([record(day, 0), record(day, 1)]) for day in DAYS
    }
    assert [(day, count) for day, _, count in daily.files()] == [(day, 2) for day in DAYS]


def test_a_rename_failing_midway_through_the_commit_leaves_every_day_as_it_was(
    tmp_path: Path, old_lake: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days are moved into place one by one: the third (new) day succeeds, the second fails, the first is not reached."""
    rename = ObjectStoragePath.rename
    failing = f"occurred_date={DAYS[1].isoformat()}/interactions.jsonl"

    def rename_or_fail(self: ObjectStoragePath, target: Any, *args: Any, **kwargs: Any) -> Any:
        if str(target).endswith(failing) and self.name.endswith(".partial") and not moved_back:
            moved_back.append(str(target))
            raise OSError(28, "No space left on device")
        return rename(self, target, *args, **kwargs)

    moved_back: list[str] = []
    monkeypatch.setattr(ObjectStoragePath, "rename", rename_or_fail)
    with pytest.raises(OSError, match="No space left on device"):
        write_days(tmp_path)
    assert moved_back  # the failure struck during the commit, after the third day was in place
    assert lake(tmp_path) == old_lake  # the old days back, the new day gone, no temporary files or copies


def test_an_error_while_writing_leaves_every_day_as_it_was(tmp_path: Path, old_lake: dict[str, bytes]) -> None:
    destination = daily_destination(f"file://{tmp_path}/occurred_date={{occurred_date}}/interactions.jsonl")
    assert destination is not None
    def failed_pull() -> None:
        with DailyFiles(destination, DAYS, "occurred_at", LinesFile) as daily:
            daily.write([record(DAYS[0], 0)])
            raise RuntimeError("the pull failed")

    with pytest.raises(RuntimeError, match="the pull failed"):
        failed_pull()
    assert lake(tmp_path) == old_lake
