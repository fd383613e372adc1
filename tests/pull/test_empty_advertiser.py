"""An advertiser the server lists nothing for over a whole window gets a warning naming it (the run stays green);
a comma-joined gmaid string is several advertisers, each pulled as a query of its own (docs/troubleshooting.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lips_sandbox import LipsSandbox
from tests.support import data_requests, pull, run

CHECK = "Check the gmaid"


def warnings_about(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The gmaid warnings logged, one per line: through caplog, or on stdout when Airflow's first logging
    setup in this process (e.g. on importing object storage) replaced the handlers caplog listens with."""
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    printed = [line.partition("[warning  ] ")[2] for line in capsys.readouterr().out.splitlines() if "[warning  ] " in line]
    return [message for message in logged + printed if CHECK in message]


def test_an_unknown_gmaid_gives_a_warning_that_names_it(
    lips_conn: LipsSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"):
        manifest = run(pull(global_master_advertiser_id="USA_999", destination=f"file://{tmp_path}/out.jsonl"))
    assert manifest["records"] == 0 and (tmp_path / "out.jsonl").read_bytes() == b""  # not a failure
    [warning] = warnings_about(caplog, capsys)
    assert warning.startswith("global_master_advertiser_id 'USA_999': LIPS listed no interactions for it from 2026-11-19 to 2026-11-22")
    assert "Check the gmaid" in warning and "credentials may read it" in warning


def test_a_comma_joined_string_is_several_advertisers_and_only_the_empty_one_is_named(
    lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"):
        joined = run(pull(global_master_advertiser_id="USA_1,USA_999"))
    warned = warnings_about(caplog, capsys)
    listed = run(pull(global_master_advertiser_id=["USA_1", "USA_999"]))
    alone = run(pull(global_master_advertiser_id="USA_1"))
    assert joined == listed == alone and alone  # the same records as the list: USA_1's
    asked = {value for entry in data_requests(lips_conn) for value in entry["params"]["global_master_advertiser_id"]}
    assert asked == {"USA_1", "USA_999"}  # one gmaid per request: the string was split, never sent whole
    assert [w.partition(":")[0] for w in warned] == ["global_master_advertiser_id 'USA_999'"]


def test_an_advertiser_with_interactions_gets_no_warning(
    lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_lips"):
        assert run(pull(global_master_advertiser_id="USA_1"))
    assert warnings_about(caplog, capsys) == []
