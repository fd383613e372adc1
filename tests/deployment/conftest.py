"""One real Airflow deployment for the deployment and browser tests, wired to a LIPS sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lips_sandbox import LipsSandbox, generate_interactions
from tests.deployment.harness import AirflowDeployment
from tests.deployment.site import ADVERTISERS, ARTIFACTS, DATA_END, DATA_START, Site, wire
from tests.support import API_KEY, TOKEN, postgres_unreachable, require_postgres


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_postgres(postgres_unreachable())  # Airflow's metadata database lives there
    root = tmp_path_factory.mktemp("deployment")
    interactions = generate_interactions(seed=12, count=2400, start=DATA_START, end=DATA_END, advertisers=ADVERTISERS)
    with LipsSandbox(interactions, token=TOKEN, api_key=API_KEY) as sandbox, AirflowDeployment(
        # The UI's Test button is off by default since Airflow 2.7.
        root, artifacts=ARTIFACTS / "deployment", env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    ) as airflow:
        yield wire(airflow, sandbox, root, ADVERTISERS)
