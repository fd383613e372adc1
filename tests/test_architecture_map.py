"""The architecture page's map of the code (docs/architecture.md) names every module of the package, and nothing else."""

from __future__ import annotations

import re

from tests.support import REPO

PACKAGE = REPO / "airflow_provider_lips"


def mapped_names() -> set[str]:
    page = (REPO / "docs" / "architecture.md").read_text()
    tree = page.split("```", 2)[1]  # the first fenced block is the map
    return set(re.findall(r"([a-z0-9_]+\.py)\b", tree))


def test_every_module_is_on_the_map_and_every_mapped_module_exists() -> None:
    modules = {path.name for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    mapped = mapped_names() - {"__init__.py", "demo.py", "bench_pull.py", "support.py", "conftest.py"}  # outside the package
    assert modules - mapped == set(), "modules missing from docs/architecture.md's map"
    assert mapped - modules == set(), "the map names modules that do not exist"
