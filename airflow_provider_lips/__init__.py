"""Apache Airflow provider for the LocaliQ/Gannett LIPS contact interactions API.

The package's one place for its version (read by the build and the provider metadata,
:mod:`airflow_provider_lips.provider_info`).
"""

from __future__ import annotations

__version__ = "0.1.0"
