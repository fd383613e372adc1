"""A stand-alone process for the multi-process budget tests: one task's pull, or draws from the budget.

    python -m tests.task_process pull  SPEC_JSON   # the operator's pull of one advertiser; prints the manifest
    python -m tests.task_process draw  SPEC_JSON   # prints the epoch time of every granted slot
    python -m tests.task_process pause SPEC_JSON   # pauses the budget, prints when the pause ends

``SPEC_JSON`` holds, for ``pull``, the operator's keyword arguments (``operator``) and the
window (``start``, ``end``; the connection comes from ``AIRFLOW_CONN_LIPS_DEFAULT``); for the
others ``budget`` (keyword arguments of ``open_rate_budget``) plus ``count`` or ``seconds``.
``go`` names a file to wait for after start-up, so that every process starts at the same
moment however long its imports took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def wait_for(go: str | None) -> None:
    print("ready", flush=True)
    while go and not Path(go).exists():
        time.sleep(0.002)


def pull(spec: dict) -> int:
    from datetime import datetime

    from airflow_provider_lips.operators.contact_interactions import LipsContactInteractionsOperator

    operator = LipsContactInteractionsOperator(task_id="pull", **spec["operator"])
    window = {"data_interval_start": datetime.fromisoformat(spec["start"]), "data_interval_end": datetime.fromisoformat(spec["end"])}
    wait_for(spec.get("go"))
    print(json.dumps(operator.execute(window)), flush=True)  # type: ignore[arg-type]
    return 0


def main(mode: str, raw: str) -> int:
    spec = json.loads(raw)
    if mode == "pull":
        return pull(spec)
    from airflow_provider_lips.client.ratebudget import open_rate_budget

    budget_args = dict(spec["budget"])
    if budget_args.get("folder"):
        budget_args["folder"] = Path(budget_args["folder"])
    budget = open_rate_budget(**budget_args)
    wait_for(spec.get("go"))
    try:
        if mode == "draw":
            times = []
            for _ in range(spec["count"]):
                budget.acquire()
                times.append(time.time())
            print(json.dumps(times), flush=True)
        elif mode == "pause":
            budget.pause(spec["seconds"])
            print(json.dumps(time.time() + spec["seconds"]), flush=True)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        budget.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
