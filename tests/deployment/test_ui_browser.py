"""The UI as users meet it, in headless Chromium: add a LIPS connection through the form, press Test, trigger the daily DAG."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deployment import browser
from tests.deployment.site import ARTIFACTS, DAILY, Site
from tests.support import API_KEY, TOKEN, wait_until

pytestmark = pytest.mark.deployment

SHOTS = ARTIFACTS / "browser"


@pytest.fixture
def ui(site: Site, request: pytest.FixtureRequest) -> Iterator[browser.Browser]:
    missing = browser.available()
    if missing:
        reason = f"the browser test needs Debian's chromium: {missing}"
        if os.environ.get("LIPS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (LIPS_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    with browser.chromium(site.airflow.url, SHOTS / request.node.originalname.removeprefix("test_")) as session:
        session.login(site.airflow.username, site.airflow.password)
        yield session


def add_lips_connection(ui: browser.Browser, conn_id: str, port: int, token: str) -> None:
    from selenium.webdriver.common.keys import Keys

    ui.open("/connections")
    ui.click(ui.button("Add Connection"))
    ui.element("[role=dialog] input[name=connection_id]", "the connection id field").send_keys(conn_id)
    kind = ui.element("[role=dialog] input[role=combobox]", "the connection type picker")
    kind.send_keys("LIPS")
    kind.send_keys(Keys.ENTER)
    ui.element("[role=dialog] input[name=host]", "the Base URL field").send_keys("http://127.0.0.1")
    ui.element("[role=dialog] input[name=port]", "the port field").send_keys(str(port))
    ui.element("[role=dialog] input[name=password]", "the API token field").send_keys(token)
    ui.shot(f"{conn_id}-standard-fields")
    ui.click(ui.button("Extra Fields", within="[role=dialog]"))
    ui.element("[role=dialog] input[name=element_api_key]", "the API key field").send_keys(API_KEY)
    ui.shot(f"{conn_id}-extra-fields")
    ui.click(ui.button("Save", within="[role=dialog]"))
    ui.wait(lambda d: conn_id in ui.text() and "Add Connection" in ui.text() and not d.find_elements("css selector", "[role=dialog]"),
            f"{conn_id} in the connection list")


def press_test(ui: browser.Browser, conn_id: str) -> str:
    """Press the row's Test button; return the toast the UI shows for it."""
    from selenium.webdriver.common.by import By

    def toasts(driver: Any) -> list[str]:
        return [t.text for t in driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast][data-part=root]") if "Test Connection" in t.text]

    def answered(driver: Any) -> list[str]:
        # The title renders a moment before the description with the hook's message: wait for both.
        return [text for text in toasts(driver) if len([line for line in text.splitlines() if line.strip()]) >= 2]

    for close in ui.driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast] [data-part=close-trigger]"):
        ui.click(close)
    ui.wait(lambda d: not toasts(d) or None, "earlier toasts to close")
    row = ui.wait(lambda d: next(r for r in d.find_elements(By.CSS_SELECTOR, "tbody tr") if r.text.split()[0] == conn_id),
                  f"the {conn_id} row")
    ui.click(next(b for b in row.find_elements(By.TAG_NAME, "button") if b.get_attribute("aria-label") == "Test Connection"))
    (toast,) = ui.wait(answered, f"the Test result of {conn_id} with its message")  # an empty list is "not yet"
    ui.shot(f"{conn_id}-test")
    return toast


def test_the_form_saves_a_connection_whose_test_button_tells_good_from_bad(ui: browser.Browser, site: Site) -> None:
    port = int(site.sandbox.url.rsplit(":", 1)[1])
    add_lips_connection(ui, "lips_ui", port, TOKEN)
    add_lips_connection(ui, "lips_ui_bad", port, "not-the-token")

    good = press_test(ui, "lips_ui")
    assert "Test Connection Successful" in good and f"Connected to http://127.0.0.1:{port}: credentials accepted." in good
    bad = press_test(ui, "lips_ui_bad")
    assert "Test Connection Failed" in bad and "LIPS answered 401" in bad and "not-the-token" not in bad

    # What the form saved: the port in its field, no default frozen into the extra.
    saved = site.airflow.client.get("/connections/lips_ui")
    assert saved["host"] == "http://127.0.0.1" and saved["port"] == port
    assert {key: value for key, value in json.loads(saved["extra"]).items() if value is not None} == {"api_key": "***"}


def test_the_trigger_dialog_runs_the_daily_dag_with_its_defaults(ui: browser.Browser, site: Site) -> None:
    client = site.airflow.client
    client.wait_for_dag(DAILY)
    client.unpause(DAILY)
    before = {run["dag_run_id"] for run in client.dag_runs(DAILY)}
    ui.open(f"/dags/{DAILY}")
    ui.click(ui.button("Trigger"))
    ui.element("[role=dialog]", "the Trigger dialog")
    ui.shot("trigger-dialog")
    ui.click(ui.button("Trigger", within="[role=dialog]"))  # enabled: every param is valid as it stands

    def triggered() -> list[dict]:
        return [run for run in client.dag_runs(DAILY) if run["dag_run_id"] not in before and run["run_type"] == "manual"]

    (run,) = wait_until(triggered, 60, "the run the Trigger dialog started")
    finished = client.wait_for_run(DAILY, run["dag_run_id"])
    ui.open(f"/dags/{DAILY}/runs/{run['dag_run_id']}")
    ui.wait(lambda d: "success" in ui.text().lower(), "the run page")
    ui.shot("triggered-run")
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in client.task_instances(DAILY, run["dag_run_id"])}
    assert finished["state"] == "success", states
    assert set(states.values()) == {"success"} and sum(task == "batch" for task, _ in states) == 1
    # The dialog sent the params' defaults: nothing a user had to fill in.
    defaults = {"advertisers": None, "base_uri": None, "lookback": "P10D", "batch_size": 100, "output_format": "jsonl", "pii": None}
    assert finished["conf"] in ({}, None) or all(defaults[key] == value for key, value in finished["conf"].items())
