"""A stand-alone process for the multi-process budget tests: draws from the rate budget, or pauses it.

    python -m tests.task_process draw  SPEC_JSON   # prints the epoch time of every granted slot
    python -m tests.task_process pause SPEC_JSON   # pauses the budget, prints when the pause ends

``SPEC_JSON`` holds ``budget`` (keyword arguments of ``open_rate_budget``) plus ``count`` or
``seconds``, and ``go``: a file to wait for after start-up, so that every process starts
drawing at the same moment however long its imports took.
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


def main(mode: str, raw: str) -> int:
    from airflow_provider_lips.ratebudget import open_rate_budget

    spec = json.loads(raw)
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
