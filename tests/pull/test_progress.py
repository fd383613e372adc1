"""A long pull logs where it stands every few seconds (pages and records of the known total across every
query, rates, ETA), not a line per page; a short one logs only its summary."""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta

import pytest

from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.pull.window import TimeWindow
from lips_sandbox import LipsSandbox
from tests.support import DAY, pull, run

ADVERTISERS = ["USA_1", "USA_2"]
PER_PAGE = 10
LINE = re.compile(
    r"Progress: (?P<pages>\d+)/(?P<approx>~?)(?P<known_pages>\d+) pages \((?P<page_pct>[\d.]+)%\), "
    r"(?P<records>[\d,]+)/~?(?P<known_records>[\d,]+) interactions listed \((?P<record_pct>[\d.]+)%\) "
    r"of 2 queries(?P<begun>, 1 begun)?; [\d.]+ pages/s, [\d,]+ interactions/s; elapsed \w+, ETA \w+\."
)


def served(sandbox: LipsSandbox) -> list[int]:
    """Records the listing holds for each advertiser over the server dates a one-day pull asks for."""
    start_date, end_date = TimeWindow.from_values(DAY, DAY + timedelta(days=1)).server_dates()
    return [len(sandbox.truth(global_master_advertiser_id=gmaid, start_date=start_date, end_date=end_date)) for gmaid in ADVERTISERS]


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "airflow_provider_lips.pull.progress"]


def test_progress_counts_pages_and_records_of_every_query(
    lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    per_advertiser = served(lips_conn)
    pages = sum(math.ceil(n / PER_PAGE) for n in per_advertiser)
    assert pages > 4  # several pages per advertiser: the test is about a walk, not a single answer
    with caplog.at_level(logging.INFO, logger="airflow_provider_lips"):
        # Interval 0: a line after every page, so every count the log can show is checked.
        kept = run(pull(global_master_advertiser_id=ADVERTISERS, per_page=PER_PAGE, progress_interval=0))
    lines = progress_lines(caplog)
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
    matches = [m for m in parsed if m]
    done = [int(m["pages"]) for m in matches]
    assert done == sorted(done) and done[0] == 1  # pages only ever go up, each counted once however often walked
    for m in matches:
        assert float(m["page_pct"]) == pytest.approx(100 * int(m["pages"]) / int(m["known_pages"]), abs=0.05)
    first_pages = math.ceil(per_advertiser[0] / PER_PAGE)
    # Before the second advertiser's page 1 its size is estimated as the first one's.
    first = matches[0]
    assert first["begun"] and first["approx"] and int(first["known_pages"]) == 2 * first_pages
    # From then on the total is the one both page 1s announced.
    sized = [m for m in matches if not m["begun"]]
    assert sized and all(int(m["known_pages"]) == pages for m in sized)
    last = lines[-1]
    records = f"{sum(per_advertiser):,}"
    assert last.startswith(f"Progress: {pages}/{pages} pages (100.0%), {records}/{records} interactions listed (100.0%) of 2 queries;")
    assert "~" not in last
    messages = [r.getMessage() for r in caplog.records]
    assert not any(re.search(r": page \d+ of \d+", m) for m in messages if "Progress" not in m)  # per-page detail is DEBUG
    # The summary stays; the operator logs through Airflow's structlog logger, which writes to stdout outside a task.
    assert f"Pulled {len(kept)} interactions with " in capsys.readouterr().out


def test_a_pull_shorter_than_the_interval_logs_only_its_summary(
    lips_conn: LipsSandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_lips"):
        run(pull(global_master_advertiser_id=ADVERTISERS, per_page=PER_PAGE, progress_interval=3600))
    assert progress_lines(caplog) == []
    assert "Pulled " in capsys.readouterr().out
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and re.search(r": page \d+ of \d+", r.getMessage())]
    assert len(debug) >= sum(math.ceil(n / PER_PAGE) for n in served(lips_conn))  # the page detail is still there at DEBUG


@pytest.mark.parametrize("value", [-1, "soon", None])
def test_a_bad_interval_is_refused_naming_it(value: object) -> None:
    with pytest.raises(LipsValidationError, match=r"progress_interval must be a number of seconds \(0 or more\)"):
        pull(progress_interval=value)
