"""The next successful write removes what killed writers left, and nothing a live writer still needs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow.sdk import ObjectStoragePath
from airflow_provider_lips.output import storage
from airflow_provider_lips.output.storage import atomic_write

pytestmark = pytest.mark.integration  # processes whose pids it needs dead


def _leftover(folder: Path, name: str, age_seconds: float) -> Path:
    path = folder / name
    path.write_bytes(b'{"id": 1}\n{"id": 2')  # cut off mid-record, as a killed writer leaves it
    moment = time.time() - age_seconds
    os.utime(path, (moment, moment))
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def test_a_write_removes_dead_writers_leftovers_and_keeps_live_ones(tmp_path: Path) -> None:
    target = tmp_path / "gmaid=USA_1" / "contact_interactions.jsonl"
    target.parent.mkdir()
    host = storage._HOST
    dead_here = _leftover(target.parent, f".{target.name}.0123456789ab-{_dead_pid()}-{host}.partial", 30)
    older_version = _leftover(target.parent, f".{target.name}.abcdefabcdef.partial", 3600)  # before pids were recorded
    other_machine = _leftover(target.parent, f".{target.name}.111111111111-77-some-other-node.partial", 30)
    live_here = _leftover(target.parent, f".{target.name}.222222222222-{os.getpid()}-{host}.partial", 30)
    fresh_elsewhere = _leftover(target.parent, f".{target.name}.333333333333-77-some-other-node.partial", -30)
    other_target = _leftover(target.parent, ".other.jsonl.444444444444.partial", 3600)
    unrelated = _leftover(target.parent, "notes.partial", 3600)

    with atomic_write(ObjectStoragePath(f"file://{target}")) as handle:
        handle.write(b'{"id": 3}\n')

    assert target.read_bytes() == b'{"id": 3}\n'
    remaining = {path.name for path in target.parent.iterdir()}
    assert remaining == {target.name, live_here.name, fresh_elsewhere.name, other_target.name, unrelated.name}
    for gone in (dead_here, older_version, other_machine):
        assert not gone.exists()


def test_a_failed_write_removes_only_its_own_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "contact_interactions.jsonl"
    target.write_bytes(b"previous\n")
    dead = _leftover(tmp_path, f".{target.name}.0123456789ab-{_dead_pid()}-{storage._HOST}.partial", 30)
    try:
        with atomic_write(ObjectStoragePath(f"file://{target}")) as handle:
            handle.write(b"half")
            raise RuntimeError("the pull failed")
    except RuntimeError:
        pass
    assert target.read_bytes() == b"previous\n"
    assert {path.name for path in tmp_path.iterdir()} == {target.name, dead.name}  # cleaned by the next success
