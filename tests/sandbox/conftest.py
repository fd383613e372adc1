"""Fixtures for the sandbox's own tests: small deterministic data and a sandbox factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from lips_sandbox import LipsSandbox, generate_interactions
from tests.sandbox.sandbox_support import END, SANDBOX_TOKEN, START


@pytest.fixture(scope="session")
def records() -> list[dict[str, Any]]:
    """800 interactions over the first two weeks of October 2026 (shared: never modify)."""
    return generate_interactions(seed=11, count=800, start=START, end=END)


@pytest.fixture
def serve(records: list[dict[str, Any]]) -> Iterator[Callable[..., LipsSandbox]]:
    """Start sandboxes (over ``records`` unless told otherwise); all are stopped after the test."""
    started: list[LipsSandbox] = []

    def start(interactions: list[dict[str, Any]] | None = None, **settings: Any) -> LipsSandbox:
        settings.setdefault("token", SANDBOX_TOKEN)
        sandbox = LipsSandbox(records if interactions is None else interactions, **settings).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def client() -> Iterator[requests.Session]:
    """A keep-alive session that authenticates like a LIPS client."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {SANDBOX_TOKEN}"
        yield session
