"""`make demo`: run the daily DAG through Airflow against a local LIPS sandbox and show what it did."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from lips_sandbox.process import SandboxProcess

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
ADVERTISERS = ["USA_1", "USA_2"]
TOKEN = "demo-token"


def advertiser_results(metadata_db: Path) -> list[dict]:
    """The latest run's per-advertiser rows (the batch tasks' XCom 'advertisers') from Airflow's metadata DB."""
    with sqlite3.connect(metadata_db) as db:
        (run_id,) = db.execute("SELECT max(run_id) FROM xcom WHERE dag_id = 'lips_contact_interactions_daily'").fetchone()
        rows = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'lips_contact_interactions_daily' AND task_id = 'batch' "
            "AND key = 'advertisers' AND run_id = ? ORDER BY map_index", (run_id,),
        ).fetchall()
    values = [json.loads(value) if isinstance(value, (str, bytes)) else value for (value,) in rows]
    return [row for batch in values for row in (json.loads(batch) if isinstance(batch, str) else batch)]


def main() -> int:
    now = datetime.now(timezone.utc)
    day = (now - timedelta(days=1)).date()
    interval_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    interval_end = interval_start + timedelta(days=1)
    WORK.mkdir(exist_ok=True)
    warehouse = WORK / "warehouse.db"
    data = WORK / "data"
    sandbox = SandboxProcess(
        seed=1, interactions=6000, start=(interval_start - timedelta(days=30)).date(), end=interval_end.date(), token=TOKEN,
        log=WORK / "sandbox.log",
    ).start()
    url = sandbox.url
    print(f"LIPS sandbox at {url}")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow_provider_lips" / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_LIPS_DEFAULT": json.dumps({"conn_type": "lips", "host": url, "password": TOKEN}),
        "AIRFLOW_CONN_LIPS_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_VAR_LIPS_ADVERTISERS": json.dumps(ADVERTISERS),
        "AIRFLOW_VAR_LIPS_BASE_URI": f"file://{data}",
    }
    airflow = [sys.executable, "-m", "airflow"]
    try:
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"Running lips_contact_interactions_daily for {day} through Airflow ...")
        run = subprocess.run(
            # On a daily interval timetable, the run at <date> covers the day before it.
            [*airflow, "dags", "test", "lips_contact_interactions_daily", interval_end.isoformat()],
            env=env, capture_output=True, text=True,
        )
        (WORK / "dags-test.log").write_text(run.stdout + run.stderr)
        ok = run.returncode == 0 and "state=success" in run.stdout + run.stderr
        print(f"airflow dags test exited {run.returncode}; full log in {WORK / 'dags-test.log'}")
        print("Lake: one file per day the interactions occurred on (the run's interval plus its 10-day lookback):")
        for gmaid in ADVERTISERS:
            files = sorted((data / f"gmaid={gmaid}").glob("occurred_date=*/contact_interactions.jsonl"))
            counts = [(path.parent.name.removeprefix("occurred_date="), len(path.read_text().splitlines())) for path in files]
            print(f"  {gmaid}: {sum(n for _, n in counts)} interactions in {len(files)} partitions under {data / f'gmaid={gmaid}'}")
            for occurred, n in counts:
                print(f"    occurred_date={occurred}: {n:4d}{'   <- the run interval' if occurred == day.isoformat() else ''}")
        print("Per advertiser (the batch task's XCom 'advertisers', as the UI shows it):")
        for row in advertiser_results(WORK / "airflow" / "airflow.db"):
            failure = f", {row['error']}" if row["error"] else ""
            print(f"  {row['gmaid']}: {row['status']}, {row['records']} interactions in {row['files']} files, "
                  f"{row['pages']} pages, loaded {row['loaded']} (removed {row['removed']}){failure}")
        with sqlite3.connect(warehouse) as db:
            for table in ("lips_contact_interactions", "lips_contacts"):
                count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (names from the tuple above)
                print(f"  {table}: {count} rows in {warehouse}")
            latest = db.execute(
                "SELECT id, event_type, occurred_at, display_name FROM lips_contact_interactions ORDER BY occurred_at DESC LIMIT 3"
            ).fetchall()
        for row in latest:
            print(f"    {row}")
        return 0 if ok else 1
    finally:
        sandbox.stop()
        print("LIPS sandbox stopped.")


if __name__ == "__main__":
    sys.exit(main())
