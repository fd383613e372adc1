"""s3:// destinations end to end: Airflow object storage + the Amazon provider's s3fs, against moto in server mode."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

pytest.importorskip("s3fs", reason="needs the s3 extra: pip install 'airflow-provider-lips[s3]'")
pytest.importorskip("airflow.providers.amazon", reason="needs the s3 extra: pip install 'airflow-provider-lips[s3]'")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (the dev extra)")

from airflow_provider_lips.exceptions import LipsResponseError, LipsValidationError  # noqa: E402
from airflow_provider_lips.warehouse import load_contact_interactions  # noqa: E402
from lips_sandbox import LipsSandbox  # noqa: E402
from tests.support import DAY, expected_ids, pull, run  # noqa: E402

pytestmark = pytest.mark.airflow

KEY = "lips/gmaid=USA_1/date=2026-11-20/contact_interactions.jsonl"
FAKE_KEY_ID, FAKE_SECRET = "AKIAMOTOFAKEKEY00001", "moto-fake-secret-key"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP on a free loopback port, shared by this module's tests."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on moto; no real AWS configuration or credentials can leak in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY_ID,
        aws_secret_access_key=FAKE_SECRET,
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"lips-{uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws_conn_id(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow aws connection pointing at moto; unique per test, since Airflow caches filesystems by conn id."""
    conn_id = f"lips_s3_{uuid4().hex[:10]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": FAKE_KEY_ID,
                "password": FAKE_SECRET,
                "extra": {"endpoint_url": moto_endpoint, "region_name": REGION},
            }
        ),
    )
    return conn_id


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def object_ids(s3: Any, bucket: str, key: str = KEY) -> list[int]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line)["id"] for line in body.decode().splitlines()]


def want(interactions: list[dict]) -> set[int]:
    return expected_ids(interactions, DAY, DAY + timedelta(days=1), global_master_advertiser_id="USA_1")


def test_pull_writes_exactly_the_window_to_s3_and_no_temp_object(
    lips_conn: LipsSandbox, interactions: list[dict], s3: Any, bucket: str, aws_conn_id: str
) -> None:
    uri = f"s3://{aws_conn_id}@{bucket}/{KEY}"
    manifest = run(pull(destination=uri))
    ids = object_ids(s3, bucket)
    assert set(ids) == want(interactions) and len(ids) == len(set(ids)) > 10
    assert manifest["records"] == len(ids)
    assert manifest["uri"].startswith("s3://") and manifest["uri"].endswith(f"{bucket}/{KEY}")
    # The hidden .partial object was moved into place, not left beside it.
    assert keys(s3, bucket) == [KEY]


def test_failed_rerun_leaves_the_previous_object_byte_identical(
    lips_conn: LipsSandbox, s3: Any, bucket: str, aws_conn_id: str
) -> None:
    uri = f"s3://{aws_conn_id}@{bucket}/{KEY}"
    lips_conn.configure(max_per_page=10)
    first = run(pull(destination=uri, per_page=10))
    assert first["pages"] >= 3
    before = s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()
    lips_conn.configure(max_per_page=10, malformed_pages=[2])
    with pytest.raises(LipsResponseError, match="page=2&per_page=10 answered 200 with a body that is not JSON"):
        run(pull(destination=uri, per_page=10, concurrency=1))
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == before
    assert keys(s3, bucket) == [KEY]


def test_warehouse_loads_the_object_from_s3(
    lips_conn: LipsSandbox,
    interactions: list[dict],
    s3: Any,
    bucket: str,
    aws_conn_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_S3_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    manifest = run(pull(destination=f"s3://{aws_conn_id}@{bucket}/{KEY}"))
    result = load_contact_interactions(manifest, "lips_s3_warehouse")
    assert result.records == manifest["records"] == len(want(interactions))
    with sqlite3.connect(db) as conn:
        loaded = {row[0] for row in conn.execute("SELECT id FROM lips_contact_interactions")}
    assert loaded == want(interactions) == set(object_ids(s3, bucket))


def test_writing_into_a_missing_bucket_never_creates_it(
    lips_conn: LipsSandbox, s3: Any, aws_conn_id: str
) -> None:
    missing = f"lips-missing-{uuid4().hex[:8]}"
    with pytest.raises(LipsValidationError, match=f"never creates buckets or containers: create {missing!r}"):
        run(pull(destination=f"s3://{aws_conn_id}@{missing}/{KEY}"))
    assert missing not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_a_missing_storage_connection_is_named_before_any_request(lips_conn: LipsSandbox, bucket: str) -> None:
    with pytest.raises(LipsValidationError, match="names the storage connection 'no_such_aws', which does not exist: create it"):
        run(pull(destination=f"s3://no_such_aws@{bucket}/{KEY}"))
    assert not lips_conn.requests


def test_s3_without_the_extra_fails_in_validation_naming_it(lips_conn: LipsSandbox) -> None:
    """A fresh process where s3fs cannot be imported, as after a plain ``pip install airflow-provider-lips``."""
    script = (
        "import sys; sys.modules['s3fs'] = None\n"
        "from datetime import datetime, timezone\n"
        "from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator\n"
        "op = LipsContactInteractionsOperator(task_id='pull', global_master_advertiser_id='USA_1',\n"
        "    destination='s3://aws_default@bucket/lips/x.jsonl')\n"
        "try:\n"
        "    op.execute({'data_interval_start': datetime(2026, 11, 20, tzinfo=timezone.utc),\n"
        "                'data_interval_end': datetime(2026, 11, 21, tzinfo=timezone.utc)})\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert (
        "LipsValidationError destination 's3://aws_default@bucket/lips/x.jsonl': no s3:// filesystem is installed; "
        "pip install 'airflow-provider-lips[s3]'."
    ) in result.stdout, result.stdout + result.stderr[-2000:]
    assert not lips_conn.requests


@pytest.mark.parametrize("named", [False, True], ids=["no-connection-id", "a-connection-without-keys"])
def test_s3_without_any_credentials_is_refused_before_any_request(
    named: bool, lips_conn: LipsSandbox, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials anywhere: the Amazon provider would fall back to anonymous access, and the write would fail
    with a bare botocore error after the whole pull."""
    import airflow.sdk.io.store

    monkeypatch.setattr(airflow.sdk.io.store, "_STORE_CACHE", {})  # filesystems built by earlier tests had keys
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask for on this machine
    monkeypatch.setenv("AIRFLOW_CONN_LIPS_S3_NO_KEYS", json.dumps({"conn_type": "aws", "extra": {"endpoint_url": moto_endpoint}}))
    uri = f"s3://lips_s3_no_keys@lips-bucket/{KEY}" if named else f"s3://lips-bucket/{KEY}"
    with pytest.raises(LipsValidationError) as raised:
        run(pull(destination=uri))
    message = str(raised.value)
    where = "the storage connection 'lips_s3_no_keys'" if named else "no storage connection (none is named)"
    assert message.startswith(f"destination {uri!r} would be written without credentials: {where} and this worker's environment")
    assert "'s3://<conn_id>@<bucket>/...'" in message and "AWS_ACCESS_KEY_ID" in message
    assert not lips_conn.requests
