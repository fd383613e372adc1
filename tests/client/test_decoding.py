"""Undecodable answers: JSON nested past what the decoder follows (100,000 arrays deep) or not JSON at all
becomes the provider's LipsResponseError naming the request, never a bare RecursionError; nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_lips.exceptions import LipsResponseError
from lips_sandbox import LipsSandbox
from tests.support import data_requests, pull, run


@pytest.mark.parametrize("page", [1, 3], ids=["first-page", "fanned-out-page"])
def test_absurd_nesting_is_a_provider_error_naming_the_request(page: int, lips_conn: LipsSandbox, tmp_path: Path) -> None:
    """Page 1 is decoded on the task's thread, page 3 on a worker of the fan-out: the same error either way."""
    lips_conn.configure(deep_nesting_pages=[page])  # 100,000 nested arrays in the page's first record
    with pytest.raises(LipsResponseError) as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10))
    message = str(raised.value)
    assert message.startswith("GET /contact_interactions?global_master_advertiser_id=USA_1&start_date=")
    assert f"&page={page}&per_page=10 answered 200 with JSON nested deeper than " in message
    assert "more than the decoder follows (a LIPS record nests a few)" in message
    assert not isinstance(raised.value.__cause__, RecursionError) and raised.value.__suppress_context__
    assert list(tmp_path.iterdir()) == [], "no file, no debris"
    pages = [e["params"]["page"][0] for e in data_requests(lips_conn) if e["path"] == "/contact_interactions"]
    assert pages.count(str(page)) == 1, "a decoder failure is not retried"


def test_nesting_the_decoder_follows_is_kept(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    """The contrast: 50 levels decode, and the record is written with them."""
    lips_conn.configure(deep_nesting_pages=[1], nesting_depth=50)
    manifest = run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10, completeness="off"))
    assert manifest["records"] > 0


def test_a_body_that_is_not_json_names_the_request_and_quotes_its_start(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    lips_conn.configure(malformed_pages=[2])
    with pytest.raises(LipsResponseError, match=r"&page=2&per_page=10 answered 200 with a body that is not JSON: '\{") as raised:
        run(pull(destination=str(tmp_path / "out.jsonl"), per_page=10))
    assert "(JSON is malformed" in str(raised.value)
    assert list(tmp_path.iterdir()) == []
