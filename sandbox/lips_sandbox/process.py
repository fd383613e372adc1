"""The sandbox as a separate process: the one way the demo, the benchmark and the tests start it.

::

    with SandboxProcess(seed=1, interactions=6000, token="T") as sandbox:
        print(sandbox.url)

Keyword options become the CLI's flags (``max_per_page=50`` is ``--max-per-page 50``;
datetimes are written in ISO-8601, lists comma-separated). The process gets a free port
and a ready file; the context waits until it serves and stops it (SIGTERM) on exit, also
when the body fails. Stdlib only, so scripts that must not import Airflow can use it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

MODULE = "lips_sandbox"


def _flag_value(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def command_line(ready_file: str | Path, **options: Any) -> list[str]:
    """``python -m lips_sandbox --port 0 --ready-file ...`` with ``options`` as flags."""
    options.setdefault("port", 0)
    command = [sys.executable, "-m", MODULE, "--ready-file", str(ready_file)]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", _flag_value(value)]
    return command


class SandboxProcess:
    """One ``python -m lips_sandbox`` process and its control endpoints.

    :param log: where the process's stdout and stderr go (default: a temporary file, read
        back by :attr:`output` until the context exits).
    :param startup_timeout: seconds to wait for the ready file before failing with the log.
    """

    def __init__(self, *, log: Path | None = None, startup_timeout: float = 60.0, cwd: Path | None = None, **options: Any) -> None:
        self.options = options
        self.startup_timeout = startup_timeout
        self.cwd = cwd
        self._folder = Path(tempfile.mkdtemp(prefix="lips-sandbox-"))
        self.log = log or self._folder / "sandbox.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> SandboxProcess:
        ready = self._folder / "url"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command_line(ready, **self.options), stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        deadline = time.monotonic() + self.startup_timeout
        while not (ready.exists() and ready.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                output = self.output
                shutil.rmtree(self._folder, ignore_errors=True)
                raise RuntimeError(f"The LIPS sandbox did not start:\n{output[-2000:]}")
            time.sleep(0.05)
        self.url = ready.read_text().strip()
        ready.unlink()
        if self.log.parent != self._folder:
            self._folder.rmdir()  # nothing left in it: a started sandbox leaves no temporary files
        return self

    def stop(self, stop_signal: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process and wait for it (killing it after ``timeout``); return its exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    @property
    def output(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)  # the ready file, and the log unless one was given

    # -- the control endpoints (see the sandbox's README section) -----------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        # S310: always the sandbox's own http:// URL, never a file: or custom scheme.
        request = urllib.request.Request(f"{self.url}/_sandbox/{path}", data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer: IO[bytes] = response
            return json.loads(answer.read())

    def configure(self, **settings: Any) -> Any:
        """Change settings of the running sandbox (``POST /_sandbox/config``)."""
        return self._call("POST", "config", settings)

    def reset_log(self) -> None:
        self._call("POST", "reset-log")

    def requests(self) -> list[dict[str, Any]]:
        """The request log (``GET /_sandbox/requests``)."""
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def cpu_seconds(self) -> float:
        """utime + stime of the sandbox process (Linux)."""
        if self.process is None:
            raise RuntimeError("The sandbox process is not running: start() it first.")
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
