"""Local emulation of the LIPS Contact Interactions API for tests, demos and benchmarks.

``generate_interactions`` makes deterministic synthetic data; ``LipsSandbox``
serves it over HTTP like LIPS does, with switchable faults (latency, 429s,
5xx, dropped connections, malformed pages, data shifting during a walk,
cross-host redirects). ``python -m airflow_provider_lips.testing.sandbox`` runs one
as a separate process.
"""

from __future__ import annotations

from airflow_provider_lips.testing.sandbox.data import generate_interactions, with_long_transcripts
from airflow_provider_lips.testing.sandbox.query import ParamError
from airflow_provider_lips.testing.sandbox.server import LipsSandbox
from airflow_provider_lips.testing.sandbox.settings import SandboxSettings

__all__ = ["LipsSandbox", "ParamError", "SandboxSettings", "generate_interactions", "with_long_transcripts"]
