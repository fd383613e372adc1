"""A real Airflow deployment for tests: api-server, scheduler and dag-processor on a fresh PostgreSQL database.

``AirflowDeployment`` is what users run, not ``airflow dags test``: separate processes, the
executor chosen by name (LocalExecutor by default; CeleryExecutor once the caller adds its
broker settings and ``celery worker`` services), the simple auth manager with a known user,
and a JWT-authenticated client for ``/api/v2``. Every process is stopped and the database
dropped on exit, failures included; process and task logs are copied to ``artifacts``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support import PG, REPO, free_port, wait_until

USERNAME = "admin"


class PostgresDatabases:
    """Databases with random names on the shared server, each dropped by ``drop_all``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(**PG, autocommit=True)

    def create(self, prefix: str) -> str:
        """Create ``<prefix>_<random>`` and return its SQLAlchemy URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        with closing(self._admin()) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        self.names.append(name)
        return f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"

    def drop_all(self) -> None:
        with closing(self._admin()) as conn, conn.cursor() as cursor:
            while self.names:
                cursor.execute(f"DROP DATABASE IF EXISTS {self.names.pop()} WITH (FORCE)")


class ApiError(AssertionError):
    """A REST call answered with an error status; the message carries the body."""


@dataclass
class RestClient:
    """``/api/v2`` with a JWT from the simple auth manager, plus the calls the tests need."""

    base_url: str
    username: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)

    def login(self) -> None:
        response = self.session.post(
            f"{self.base_url}/auth/token", json={"username": self.username, "password": self.password}, timeout=30
        )
        if response.status_code >= 300:
            raise ApiError(f"POST /auth/token answered {response.status_code}: {response.text[:500]}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code >= 300:
            raise ApiError(f"{method} /api/v2{path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, json=body)

    def patch(self, path: str, body: Any, **params: Any) -> Any:
        return self.call("PATCH", path, json=body, params=params)

    # -- what tests do with a deployment --------------------------------------------------

    def create_connection(self, connection_id: str, conn_type: str, **fields: Any) -> Any:
        """``fields``: host, port, login, password, schema, extra (a dict, sent as JSON text)."""
        if isinstance(fields.get("extra"), dict):
            fields["extra"] = json.dumps(fields["extra"])
        return self.post("/connections", {"connection_id": connection_id, "conn_type": conn_type, **fields})

    def set_variable(self, key: str, value: Any) -> Any:
        return self.post("/variables", {"key": key, "value": value if isinstance(value, str) else json.dumps(value)})

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> dict[str, Any]:
        """Until the dag-processor has parsed and serialized ``dag_id``."""

        def parsed() -> dict[str, Any] | None:
            try:
                return self.get(f"/dags/{dag_id}")
            except ApiError:
                return None

        return wait_until(parsed, timeout, f"DAG {dag_id} to be parsed")

    def unpause(self, dag_id: str) -> Any:
        return self.patch(f"/dags/{dag_id}", {"is_paused": False}, update_mask="is_paused")

    def trigger(self, dag_id: str, *, logical_date: str | None = None, conf: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        return str(self.post(f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", order_by="run_after", limit=100)["dag_runs"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 150) -> dict[str, Any]:
        """Until the run is finished (success or failed); returns it."""

        def finished() -> dict[str, Any] | None:
            run = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_until(finished, timeout, f"run {run_id} of {dag_id} to finish", interval=1)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, page by page (the API answers at most 100 at a time)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100, offset=len(found))
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found


class AirflowDeployment:
    """Start with ``with AirflowDeployment(root) as airflow:``; ``airflow.client`` talks to it.

    :param root: a fresh folder for AIRFLOW_HOME and the process logs.
    :param executor: ``LocalExecutor`` (default) or e.g. ``CeleryExecutor`` (then pass the broker
        in ``env`` and the workers in ``services``).
    :param env: extra environment for every process (``AIRFLOW__...`` settings, ``AIRFLOW_CONN_...``).
    :param services: more long-running processes as ``{name: airflow CLI args}``, e.g.
        ``{"worker-1": ["celery", "worker", "--concurrency", "2"]}``; started after the core ones.
    :param artifacts: where logs are copied on stop (process logs and task logs).
    """

    CORE_SERVICES: Mapping[str, Sequence[str]] = {
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
    }

    def __init__(
        self,
        root: Path,
        *,
        executor: str = "LocalExecutor",
        env: Mapping[str, str] | None = None,
        services: Mapping[str, Sequence[str]] | None = None,
        artifacts: Path | None = None,
        dags_folder: Path = REPO / "airflow_provider_lips" / "example_dags",
        parallelism: int = 8,
    ) -> None:
        self.root = root
        self.home = root / "airflow-home"
        self.logs = root / "process-logs"
        self.artifacts = artifacts
        self.executor = executor
        self.services = dict(services or {})
        self.databases = PostgresDatabases()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.username = USERNAME
        self.password = secrets.token_urlsafe(12)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.client = RestClient(self.url, self.username, self.password)
        self._dags_folder = dags_folder
        self._parallelism = parallelism
        self._extra_env = dict(env or {})
        self.env: dict[str, str] = {}

    def _environment(self, database_url: str) -> dict[str, str]:
        passwords = self.root / "passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}))
        # Nothing of the test process's own Airflow configuration may leak in.
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **base,
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self._dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self._parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__WORKERS": "1",
            # Quick to notice new files and queued runs; still light on two cores.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            **self._extra_env,
        }

    def start(self, timeout: float = 150) -> AirflowDeployment:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.env = self._environment(self.databases.create("lips_airflow"))
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=300
        )
        (self.logs / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}")
        self._spawn("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port)])
        for name, args in {**self.CORE_SERVICES, **self.services}.items():
            self._spawn(name, args)
        wait_until(self._healthy, timeout, "the api-server, scheduler and dag-processor to report healthy", interval=1)
        self.client.login()
        return self

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            # A session of its own, so stop() can signal the process with every child it forks.
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root,
            )

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {name} exited with {process.returncode} while starting:\n{tail}")
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        return all((health.get(part) or {}).get("status") == "healthy" for part in ("metadatabase", "scheduler", "dag_processor"))

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), copy the logs, drop the databases."""
        for process in self.processes.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # also reaps children the leader left behind
            process.wait()
        self.processes.clear()
        if self.artifacts is not None:
            shutil.rmtree(self.artifacts, ignore_errors=True)
            shutil.copytree(self.logs, self.artifacts / "processes", dirs_exist_ok=True)
            if (self.home / "logs").exists():
                shutil.copytree(self.home / "logs", self.artifacts / "tasks", dirs_exist_ok=True)
        self.databases.drop_all()

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """Every attempt's log of one task instance, as the UI shows it."""
        base = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        tries = self.client.get(base if map_index < 0 else f"{base}/{map_index}")["try_number"]
        query = {} if map_index < 0 else {"map_index": map_index}
        texts = []
        for attempt in range(1, tries + 1):
            body = self.client.call("GET", f"{base}/logs/{attempt}", params={"full_content": True, **query},
                                    headers={"Accept": "application/json"})
            content = body.get("content")
            texts.append(json.dumps(content) if not isinstance(content, str) else content)
        return "\n".join(texts)

    def __enter__(self) -> AirflowDeployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

