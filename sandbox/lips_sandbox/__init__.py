"""Local emulation of the LIPS Contact Interactions API for tests, demos and benchmarks.

``generate_interactions`` makes deterministic synthetic data; ``LipsSandbox``
serves it over HTTP like LIPS does, with switchable faults (latency, 429s,
5xx, dropped connections, malformed pages, data shifting during a walk,
cross-host redirects). ``python -m lips_sandbox`` runs one
as a separate process.
"""

from __future__ import annotations

from lips_sandbox.data import generate_interactions, with_long_transcripts
from lips_sandbox.query import ParamError
from lips_sandbox.server import LipsSandbox
from lips_sandbox.settings import SandboxSettings

__all__ = ["LipsSandbox", "ParamError", "SandboxSettings", "generate_interactions", "with_long_transcripts"]
