"""The daily DAG with pii="pseudonymize" through Airflow, then loads on SQLite and PostgreSQL: no plaintext anywhere."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from airflow_provider_lips.pii import key_fingerprint
from airflow_provider_lips.warehouse import load_contact_interactions
from lips_sandbox import LipsSandbox
from tests.dags.support import DagBag, Deployment, asset_event_extras, everything_airflow_stored
from tests.support import REPO, PostgresSchema, data_requests, expected_ids, plaintext_pii

KEY = "pii-key-DAGRUN-LEAKCHECK-5e2a91c4d7"
LOGICAL_DATE = "2026-11-21"  # the interval [11-20, 11-21), widened by the DAG's P10D lookback
WINDOW = (datetime(2026, 11, 10, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc))
ADVERTISERS = ("USA_1", "USA_2")


def test_the_policy_param_is_optional_in_the_trigger_dialog() -> None:
    dag = DagBag(dag_folder=str(REPO / "airflow_provider_lips" / "example_dags")).dags["lips_contact_interactions_daily"]
    param = dag.params.get_param("pii")
    assert param.value is None and "null" in param.schema["type"]
    assert param.resolve(None) is None and param.resolve("pseudonymize") == "pseudonymize"
    assert cast(Any, dag.get_task("batch")).partial_kwargs["pii"] == "{{ params.pii | tojson }}"


@pytest.mark.slow
def test_a_pseudonymized_run_lands_no_plaintext_in_files_warehouses_metadata_or_logs(
    deployment: Callable[..., Deployment], sandbox: LipsSandbox, airflow_db: Path, postgres_schema: PostgresSchema,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = deployment(list(ADVERTISERS))
    site.env["AIRFLOW_CONN_LIPS_PII_KEY"] = json.dumps({"conn_type": "generic", "password": KEY})
    started = datetime.now(timezone.utc) - timedelta(seconds=1)

    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE, conf={"pii": "pseudonymize"})

    assert run.returncode == 0, run.log[-3000:]
    ids = set().union(*(expected_ids(sandbox.interactions, *WINDOW, global_master_advertiser_id=g) for g in ADVERTISERS))
    secrets = plaintext_pii([r for r in sandbox.interactions if r["id"] in ids])
    assert len(secrets) > 300  # names, e-mails, phone numbers, transcript lines, form messages, URLs

    files = "".join(path.read_text() for path in sorted(site.data.rglob("*.jsonl")))
    assert {json.loads(line)["id"] for line in files.splitlines()} == ids and "pii1:" in files
    manifests = [m for event in asset_event_extras(started) for m in event["manifests"] if m.get("pii")]
    assert len(manifests) >= len(ADVERTISERS)
    assert all(m["pii"] == {"policy": "pseudonymize", "hash_format": "pii1", "key_fingerprint": key_fingerprint(KEY.encode())}
               for m in manifests)
    assert site.warehouse_ids() == sorted(ids)  # the DAG's own load, into SQLite
    with sqlite3.connect(site.warehouse) as db:
        sqlite_rows = "\n".join(db.iterdump())

    monkeypatch.setenv("AIRFLOW_CONN_PII_PG", postgres_schema.connection())
    for manifest in manifests:
        load_contact_interactions(manifest, "pii_pg")
    with postgres_schema.connect() as conn:
        postgres_rows = "\n".join(
            json.dumps(conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall(), default=str, ensure_ascii=False)
            for table in ("lips_contact_interactions", "lips_contacts", "lips_pii_keys")
        )
        assert conn.execute("SELECT count(*) FROM lips_contact_interactions").fetchone()[0] == len(ids)

    places = {
        "output files": files,
        "SQLite warehouse": sqlite_rows,
        "PostgreSQL warehouse": postgres_rows,
        "metadata DB (XCom, rendered fields, asset events) and task logs": everything_airflow_stored(airflow_db),
        "console": run.log,
    }
    leaks = {where: sorted(value for value in secrets if value in text)[:5] for where, text in places.items()}
    assert leaks == {where: [] for where in places}
    assert [where for where, text in places.items() if KEY in text] == []


@pytest.mark.slow
def test_a_bad_policy_param_fails_the_pulls_before_any_request(deployment: Callable[..., Deployment], sandbox: LipsSandbox) -> None:
    site = deployment(["USA_1"])
    sandbox.reset_log()
    run = site.dags_test("lips_contact_interactions_daily", LOGICAL_DATE, conf={"pii": "pseudonymise"})
    assert run.returncode != 0 or "state=failed" in run.log
    assert "pii='pseudonymise' is not a preset; use one of ['drop', 'pseudonymize']" in run.log
    assert data_requests(sandbox) == []
    assert not list(site.data.rglob("*.jsonl"))
