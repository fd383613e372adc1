"""Headless Chromium (Debian's chromium and chromium-driver) driving a deployment's UI, with screenshots.

Selenium talks to the explicit /usr/bin/chromedriver, so nothing is downloaded. Each step
that matters is saved as ``<artifacts>/<nn>-<name>.png`` for people to look at.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags that work on these machines: no sandbox (root), no GPU, no network chatter of Chromium's own.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)
T = TypeVar("T")


def available() -> str | None:
    """None when Chromium and its driver are installed, else what is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    return f"{' and '.join(missing)} missing (apt-get install chromium chromium-driver)" if missing else None


class Browser:
    """One Chromium session on ``base_url``; ``shot(name)`` saves the page as a numbered PNG."""

    def __init__(self, driver: Any, base_url: str, artifacts: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.artifacts = artifacts
        self.shots: list[Path] = []

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{len(self.shots) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def open(self, path: str) -> None:
        self.driver.get(f"{self.base_url}{path}")

    def wait(self, check: Callable[[Any], T], what: str, timeout: float = 30) -> T:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, ignored_exceptions=(Exception,)).until(check)
        except TimeoutException:
            self.shot(f"timeout-{what.replace(' ', '-')[:40]}")
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; page text: {self.text()[-1500:]}") from None

    def element(self, css: str, what: str, timeout: float = 30) -> Any:
        from selenium.webdriver.common.by import By

        return self.wait(lambda d: next(e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), what, timeout)

    def button(self, label: str, *, within: str = "body", timeout: float = 30) -> Any:
        """A visible, enabled button whose text or aria-label is ``label``."""
        from selenium.webdriver.common.by import By

        def find(driver: Any) -> Any:
            for button in driver.find_elements(By.CSS_SELECTOR, f"{within} button"):
                if button.is_displayed() and button.is_enabled() and label in (button.text.strip(), button.get_attribute("aria-label")):
                    return button
            return None

        return self.wait(find, f"the {label!r} button", timeout)

    def click(self, element: Any) -> None:
        """A real click, as a user makes it; through JavaScript when a tooltip or toast floats above the element."""
        from selenium.common.exceptions import ElementClickInterceptedException

        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        try:
            element.click()
        except ElementClickInterceptedException:
            self.driver.execute_script("arguments[0].click();", element)

    def text(self) -> str:
        return str(self.driver.execute_script("return document.body.innerText"))

    def login(self, username: str, password: str) -> None:
        self.open("/")
        self.element("input[name=username]", "the login form").send_keys(username)
        self.element("input[name=password]", "the password field").send_keys(password)
        self.shot("login")
        self.click(self.button("Sign in"))
        self.wait(lambda d: "/auth/login" not in d.current_url and "Dags" in self.text(), "the home page after login")


@contextmanager
def chromium(base_url: str, artifacts: Path) -> Iterator[Browser]:
    """A headless Chromium with a fresh profile, quit (and its profile removed) on the way out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    profile = tempfile.mkdtemp(prefix="lips-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver, base_url, artifacts)
    finally:
        driver.quit()
        time.sleep(0.2)
        shutil.rmtree(profile, ignore_errors=True)
