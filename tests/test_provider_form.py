"""The provider metadata: found through its entry point, and a connection form that states the defaults the settings apply."""

from __future__ import annotations

from importlib.metadata import entry_points

from airflow.sdk import Connection
from airflow_provider_lips.client.settings import parse_settings
from airflow_provider_lips.provider_info import get_provider_info


def test_airflow_finds_the_provider_info_through_the_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_lips")]
    assert entry.load() is get_provider_info


def test_every_default_the_form_states_is_the_one_the_settings_apply() -> None:
    settings = parse_settings(Connection(conn_id="c", conn_type="lips", host="https://lips.example.com", password="t"), "c")
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    mib = 2**20
    stated = {
        "auth_type": f"empty means {settings.auth_type}.",
        "request_timeout": f"Empty: {settings.request_timeout:g}.",
        "requests_per_second": f"Empty: {settings.requests_per_second:g}.",
        "per_page": f"Empty: {settings.per_page} ",
        "concurrency": f"Empty: {settings.concurrency}.",
        "max_bytes_in_flight": f"(default {settings.max_bytes_in_flight / mib:g} MiB)",
        "max_response_bytes": f"Empty: {settings.max_response_bytes / mib:g} MiB,",
        "response_deadline": f"Empty: {settings.response_deadline / settings.request_timeout:g} x the request timeout.",
        "max_attempts": f"Empty: {settings.max_attempts}.",
        "retry_base_wait": f"Empty: {settings.retry_base_wait:g}.",
        "retry_max_wait": f"Empty: {settings.retry_max_wait:g}.",
    }
    wrong = {key: fields[key]["description"] for key, text in stated.items() if text not in fields[key]["description"]}
    assert wrong == {}
