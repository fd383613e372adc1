"""Test doubles shipped with the provider: a local LIPS sandbox for tests, demos and benchmarks.

Nothing under ``airflow_provider_lips.testing`` is imported by the hooks or operators; it
exists so that users (and this project's own tests) can run a pipeline without the real
service.
"""
