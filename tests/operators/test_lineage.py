"""OpenLineage: the operator reports the LIPS endpoint as input and the written file as output.

Naming follows the OpenLineage dataset naming spec (openlineage.client.naming.dataset): a
dataset's namespace is ``scheme://authority`` (host *and* port) and its name the path; a local
file is namespace ``file`` with the absolute path as name (``LocalFileSystem``), as Airflow's
common-io file asset converter also emits. OpenLineage is optional: without it the method
returns None and the pull is unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_lips.exceptions import LipsResponseError
from lips_sandbox import LipsSandbox
from tests.support import DAY, expected_ids, pull, run

OPENLINEAGE_MODULES = ("airflow.providers.openlineage.extractors", "openlineage.client.event_v2")

needs_openlineage = pytest.mark.skipif(
    not (importlib.util.find_spec("openlineage.client") and importlib.util.find_spec("airflow.providers.openlineage")),
    reason="needs apache-airflow-providers-openlineage (the dev extra)",
)


def endpoint_namespace(sandbox: LipsSandbox) -> str:
    parts = urlsplit(sandbox.url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


@needs_openlineage
def test_lineage_names_one_input_and_one_output(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    from openlineage.client.event_v2 import Dataset

    from airflow.providers.openlineage.extractors import OperatorLineage

    target = tmp_path / "out" / "contact_interactions.jsonl"
    operator = pull(destination=f"file://{target}")
    run(operator)
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert isinstance(lineage, OperatorLineage)
    assert len(lineage.inputs) == 1 and len(lineage.outputs) == 1
    assert all(isinstance(d, Dataset) for d in (*lineage.inputs, *lineage.outputs))
    assert lineage.inputs[0].name == "/contact_interactions"
    assert lineage.outputs[0].name == str(target)
    # The token and key never reach lineage.
    text = json.dumps([[d.namespace, d.name] for d in (*lineage.inputs, *lineage.outputs)])
    assert "tok-" not in text and "key-" not in text


@needs_openlineage
def test_input_namespace_is_the_api_scheme_host_and_port(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    operator = pull(destination=f"file://{tmp_path}/x.jsonl")
    run(operator)
    (source,) = operator.get_openlineage_facets_on_complete(None).inputs
    assert (source.namespace, source.name) == (endpoint_namespace(lips_conn), "/contact_interactions")


@needs_openlineage
@pytest.mark.parametrize("form", ["uri", "plain_path"])
def test_output_is_the_local_file(lips_conn: LipsSandbox, tmp_path: Path, form: str) -> None:
    target = tmp_path / "contact_interactions.jsonl"
    operator = pull(destination=f"file://{target}" if form == "uri" else str(target))
    run(operator)
    (output,) = operator.get_openlineage_facets_on_complete(None).outputs
    assert (output.namespace, output.name) == ("file", str(target))


@needs_openlineage
def test_airflows_default_extractor_picks_the_method_up(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    from airflow.providers.openlineage.extractors.base import DefaultExtractor
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    operator = pull(destination=f"file://{tmp_path}/x.jsonl")
    assert ExtractorManager().get_extractor_class(operator) is DefaultExtractor
    run(operator)
    lineage = DefaultExtractor(operator).extract_on_complete(None)
    assert lineage is not None
    assert [d.name for d in lineage.inputs] == ["/contact_interactions"]
    assert [d.name for d in lineage.outputs] == [f"{tmp_path}/x.jsonl"]


@needs_openlineage
def test_xcom_pull_and_failed_pull_report_no_output(lips_conn: LipsSandbox, tmp_path: Path) -> None:
    xcom = pull()
    run(xcom)
    assert xcom.get_openlineage_facets_on_complete(None).outputs == []

    lips_conn.configure(max_per_page=10, malformed_pages=[2])
    failed = pull(destination=f"file://{tmp_path}/x.jsonl", per_page=10, concurrency=1)
    with pytest.raises(LipsResponseError):
        run(failed)
    # extract_on_failure falls back to this method: nothing was written, so no output dataset.
    lineage = failed.get_openlineage_facets_on_complete(None)
    assert lineage.outputs == [] and [d.name for d in lineage.inputs] == ["/contact_interactions"]


def test_without_openlineage_returns_none_and_the_pull_is_unaffected(
    lips_conn: LipsSandbox, interactions: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OPENLINEAGE_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    target = tmp_path / "contact_interactions.jsonl"
    operator = pull(destination=f"file://{target}")
    manifest = run(operator)
    ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
    assert set(ids) == expected_ids(interactions, DAY, DAY + timedelta(days=1), global_master_advertiser_id="USA_1")
    assert manifest["records"] == len(ids) > 10
    assert operator.get_openlineage_facets_on_complete(None) is None
