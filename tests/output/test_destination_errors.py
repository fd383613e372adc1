"""A destination that cannot be written fails naming the parameter, the path and the reason, before any request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from lips_sandbox import LipsSandbox
from tests.support import data_requests, pull, run


def failure(destination: str) -> str:
    """The message a pull to ``destination`` fails with."""
    with pytest.raises(LipsValidationError) as raised:
        run(pull(destination=destination))
    return str(raised.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_folder_the_system_will_not_create(lips_conn: LipsSandbox) -> None:
    message = failure("file:///proc/nope/out.jsonl")
    assert message.startswith("destination 'file:///proc/nope/out.jsonl' cannot be written: ")
    assert "/proc/nope" in message.partition("cannot be written: ")[2]
    assert "Point destination at a folder this worker may create and write in" in message
    assert data_requests(lips_conn) == []


@pytest.mark.parametrize("below", ["out.jsonl", "deeper/out.jsonl", "gmaid=USA_1/occurred_date={occurred_date}/out.jsonl"])
def test_a_parent_that_is_a_file(below: str, lips_conn: LipsSandbox, tmp_path: Path) -> None:
    (tmp_path / "lake").write_text("a file where a folder should be\n")
    destination = f"file://{tmp_path}/lake/{below}"
    message = failure(destination)
    assert message.startswith(f"destination 'file://{tmp_path}/lake/")
    assert f"cannot be written: {tmp_path}/lake is a file, not a folder." in message
    assert data_requests(lips_conn) == []
    assert (tmp_path / "lake").read_text() == "a file where a folder should be\n"
