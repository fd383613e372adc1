"""Destination checks: every unusable destination fails naming the problem, without touching storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow.sdk import ObjectStoragePath
from airflow_provider_lips.exceptions import LipsValidationError
from airflow_provider_lips.output.storage import check_storage_connection, resolve_destination


@pytest.mark.parametrize(
    "uri",
    ["file:///data/lips/interactions.jsonl", "/data/lips/interactions.jsonl", "s3://lips_aws@my-bucket/lips/2026-11-20.jsonl"],
)
def test_a_file_in_a_known_storage_is_accepted_as_is(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_AWS", '{"conn_type": "aws"}')
    resolved = resolve_destination(uri)
    assert isinstance(resolved, ObjectStoragePath)
    assert str(resolved).endswith(uri.rpartition("/")[2])


def test_an_object_storage_path_is_returned_unchanged(tmp_path: Path) -> None:
    path = ObjectStoragePath(f"file://{tmp_path}/out.jsonl")
    assert resolve_destination(path) is path
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "destination must be a URI or ObjectStoragePath naming a file"),
        ("   ", "destination must be a URI or ObjectStoragePath naming a file"),
        (42, "destination must be a URI or ObjectStoragePath naming a file"),
        ("file:///data/x\n.jsonl", "contains control characters"),
        ("file:///data/\tx.jsonl", "contains control characters"),
        ("gopher://host/x.jsonl", "destination scheme 'gopher' is not supported"),
        ("file://data/x.jsonl", "names host 'data'; a local file URI has three slashes"),
        ("data/x.jsonl", "is a relative path; use an absolute one"),
        ("s3://my-bucket", "names no object inside the bucket"),
        ("s3://my-bucket/", "names no object inside the bucket"),
        ("file:///data/../etc/x.jsonl", "contains a '..' segment"),
        ("file:///data/lips/", "names a folder; add a file name"),
    ],
)
def test_bad_destinations_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(LipsValidationError) as raised:
        resolve_destination(value)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_a_storage_connection_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    # With keys, and an id of its own (Airflow caches filesystems by connection id): a connection that gives
    # no credentials is refused too (tests/output/test_s3.py).
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_AWS_KEYS", '{"conn_type": "aws", "login": "AKIAEXAMPLE0000000001", "password": "example"}')
    check_storage_connection("s3://lips_aws_keys@my-bucket/x.jsonl")
    check_storage_connection("file:///data/x.jsonl")  # local files name no connection
    with pytest.raises(LipsValidationError, match="names the storage connection 'no_such_conn', which does not exist"):
        check_storage_connection("s3://no_such_conn@my-bucket/x.jsonl")
