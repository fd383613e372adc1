"""3. Import cost: ``import airflow.sdk`` vs the provider's modules, and the parse time of dags/."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from harness import DAGS, Bench, Section, run_worker, worker


@worker("import")
def import_modules(spec: dict[str, Any]) -> dict[str, Any]:
    import importlib

    started = time.perf_counter()
    for module in spec["modules"]:
        importlib.import_module(module)
    return {"seconds": time.perf_counter() - started}


@worker("dag_files")
def exec_dag_files(spec: dict[str, Any]) -> dict[str, Any]:
    """Import every dags/*.py file as a fresh module (what parsing costs a cold process)."""
    import importlib.util

    started = time.perf_counter()
    dags = 0
    for number, path in enumerate(sorted(DAGS.glob("*.py"))):
        module_spec = importlib.util.spec_from_file_location(f"bench_dag_{number}", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        dags += sum(1 for value in vars(module).values() if type(value).__name__ == "DAG")
    return {"seconds": time.perf_counter() - started, "dags": dags}


@worker("dagbag")
def parse_dagbag(spec: dict[str, Any]) -> dict[str, Any]:
    """DagBag parse time of dags/, after DagBag itself (and so airflow core) is imported."""
    started = time.perf_counter()
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    imported = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS))  # examples are off through AIRFLOW__CORE__LOAD_EXAMPLES
    done = time.perf_counter()
    return {
        "import_seconds": imported - started,
        "parse_seconds": done - imported,
        "dags": len(bag.dags),
        "errors": {str(k): str(v)[-300:] for k, v in bag.import_errors.items()},
    }


def run(bench: Bench) -> None:
    """Every case once per round, rounds repeated: machine noise spreads over all cases alike."""
    rows, notes = bench.rows, bench.notes
    reps = bench.args.import_reps
    section = f"3 import cost (fresh process each, {reps} rounds)"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("import airflow.sdk (bare)", {"kind": "import", "modules": ["airflow.sdk"]}),
        ("import ...operators.contact_interactions", {"kind": "import", "modules": [
            "airflow_provider_lips.operators.contact_interactions"]}),
        ("import ...hooks.lips", {"kind": "import", "modules": ["airflow_provider_lips.hooks.lips"]}),
        ("import ...transfers.contact_interactions_to_sql", {"kind": "import", "modules": [
            "airflow_provider_lips.transfers.contact_interactions_to_sql"]}),
        ("import operator + hook + transfers", {"kind": "import", "modules": [
            "airflow_provider_lips.operators.contact_interactions",
            "airflow_provider_lips.hooks.lips",
            "airflow_provider_lips.transfers.contact_interactions_to_sql",
        ]}),
        ("exec every dags/*.py in a cold process", {"kind": "dag_files"}),
        ("DagBag(dags/) parse, airflow core already imported", {"kind": "dagbag"}),
    ]  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in cases}
    for _ in range(reps):
        for label, spec in cases:
            results[label].append(run_worker(spec, bench.env, bench.workdir))

    def seconds(label: str, key: str = "seconds") -> tuple[float, float]:
        values = [r[key] for r in results[label]]
        return min(values), statistics.median(values)

    bare_min, _ = seconds(cases[0][0])
    for label, spec in cases:
        if spec["kind"] == "dagbag":
            parse_min, parse_median = seconds(label, "parse_seconds")
            import_min, _ = seconds(label, "import_seconds")
            first = results[label][0]
            rows.append([
                section, f"{label} ({first['dags']} DAG(s))", f"{parse_min * 1000:.0f} ms (median {parse_median * 1000:.0f})",
                f"import DagBag itself {import_min * 1000:.0f} ms", f"{parse_min / bare_min:.2f}x airflow.sdk", "(info)",
                "IMPORT ERRORS" if first["errors"] else "-",
            ])  # fmt: skip
            if first["errors"]:
                notes.append(f"DagBag import errors: {first['errors']}")
            continue
        low, median = seconds(label)
        shown = f"{label} ({results[label][0]['dags']} DAG(s))" if spec["kind"] == "dag_files" else label
        reference = "-" if low == bare_min else f"airflow.sdk {bare_min * 1000:.0f} ms"
        ratio = "1.00x" if low == bare_min else f"{low / bare_min:.2f}x ({(low - bare_min) * 1000:+.0f} ms)"
        rows.append([
            section, shown, f"{low * 1000:.0f} ms (median {median * 1000:.0f})", reference, ratio,
            "(reference)" if reference == "-" else "(info)", "-",
        ])  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import-reps", type=int, help="fresh processes per import measurement (default 5)")


def resolve_arguments(args: argparse.Namespace) -> None:
    args.import_reps = args.import_reps or (3 if args.quick else 5)


SECTION = Section("imports", run, add_arguments, resolve_arguments)
