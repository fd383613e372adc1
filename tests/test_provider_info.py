"""What `pip install airflow-provider-lips` brings, and the extras docs/installation.md names."""

from __future__ import annotations

import re
from importlib.metadata import requires

from tests.support import REPO


def requirements() -> dict[str, list[str]]:
    """Requirement names by extra ("" for the core install), from the installed distribution's metadata."""
    found: dict[str, list[str]] = {}
    for requirement in requires("airflow-provider-lips") or []:
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        found.setdefault(extra.group(1) if extra else "", []).append(re.split(r"[<>=;\s]", requirement, maxsplit=1)[0])
    return found


def test_a_plain_install_loads_into_sqlite_out_of_the_box() -> None:
    core = requirements()[""]
    # The daily DAG's default warehouse is a sqlite connection: its hook must come with the package.
    assert "apache-airflow-providers-sqlite" in core and "apache-airflow-providers-common-sql" in core


def test_postgres_and_s3_come_through_the_extras_the_docs_show() -> None:
    extras = requirements()
    assert "apache-airflow-providers-postgres" in extras["postgres"]
    assert "apache-airflow-providers-amazon[s3fs]" in extras["s3"]
    install = (REPO / "docs" / "installation.md").read_text()
    assert "pip install 'airflow-provider-lips[postgres]'" in install and "pip install 'airflow-provider-lips[s3]'" in install
