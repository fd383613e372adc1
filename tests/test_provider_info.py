"""What `pip install airflow-provider-lips` brings, the extras docs/installation.md names, and the archives a release ships."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest

import airflow_provider_lips
from tests.support import REPO

pytestmark = pytest.mark.airflow


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


# What a checkout holds that no archive is built from (virtualenvs, caches, build output).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", ".demo", "site", "dist", "build", "test-artifacts", "*.egg-info", "__pycache__", ".*_cache"
)


@pytest.mark.slow
def test_the_wheel_and_sdist_carry_the_licence_and_the_example_dags_and_not_the_sandbox_or_tests(tmp_path: Path) -> None:
    """``python -m build`` on a copy of the checkout, then ``twine check``, as a release would."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    version = airflow_provider_lips.__version__
    wheel = tmp_path / "dist" / f"airflow_provider_lips-{version}-py3-none-any.whl"
    sdist = tmp_path / "dist" / f"airflow_provider_lips-{version}.tar.gz"
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    wheel_files = zipfile.ZipFile(wheel).namelist()
    assert f"airflow_provider_lips-{version}.dist-info/licenses/LICENSE" in wheel_files
    for dag in ("lips_contact_interactions_daily.py", "lips_contact_interactions_load_on_asset.py"):
        assert f"airflow_provider_lips/example_dags/{dag}" in wheel_files
    assert "airflow_provider_lips/py.typed" in wheel_files
    assert not [name for name in wheel_files if name.startswith(("lips_sandbox/", "sandbox/", "tests/"))]
    metadata = zipfile.ZipFile(wheel).read(f"airflow_provider_lips-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}" in metadata and "License-Expression: Apache-2.0" in metadata
    assert "Project-URL: Changelog, " in metadata and "](docs/" not in metadata  # no relative link on an index page

    with tarfile.open(sdist) as archive:
        sdist_files = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    assert "LICENSE" in sdist_files and "CHANGELOG.md" in sdist_files
    assert "airflow_provider_lips/example_dags/lips_contact_interactions_daily.py" in sdist_files
    # The suite needs the sandbox, PostgreSQL, Redis and a browser: it stays in the repository, whole.
    assert not [name for name in sdist_files if name.startswith(("tests/", "sandbox/", "benchmarks/"))]
    assert (REPO / "LICENSE").read_text() == archive_text(sdist, "LICENSE")


def archive_text(sdist: Path, name: str) -> str:
    """One file of the sdist, by its path inside the project folder."""
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.split("/", 1)[-1] == name)
        handle = archive.extractfile(member)
        assert handle is not None
        return handle.read().decode()
