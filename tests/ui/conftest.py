"""Fixtures for the web UI tests: the real server in a subprocess and headless Debian Chromium.

The browser is the system ``chromium`` driven by Playwright (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1``: no
browser is ever downloaded). Browser tests skip, saying why, only when no ``chromium`` is installed or
the ``playwright`` package is missing; ``make test`` installs both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import LiveServer, serving

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tunecast serve --no-worker`` on a free loopback port with a fresh data directory."""
    with serving(tmp_path_factory.mktemp("ui-server")) as server:
        yield server


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    """A fresh headless Chromium profile (system browser, no download), 1280×800."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; `make test` does this as root)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (make test installs it)"
    )
    with tempfile.TemporaryDirectory(prefix="tunecast-chromium-") as profile, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800},
            timeout=60_000,
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # uncaught exceptions in the page's scripts
    try:
        yield page
    finally:
        page.close()


def pick_in_new_plan_form(page: Any, *, models: list[str], methods: set[str], gpus: set[str] | None = None) -> None:
    """Tick exactly these models, methods and (when given) GPU kinds in the new-plan form's checkbox lists."""
    for picked in [box.get_attribute("value") for box in page.locator("input[name=models]:checked").all()]:
        page.locator(f"input[name=models][value='{picked}']").uncheck()
    for model in models:
        page.locator(f"input[name=models][value='{model}']").check()
    for box in page.locator("input[name=methods]").all():
        box.set_checked(box.get_attribute("value") in methods)
    if gpus is not None:
        for box in page.locator("input[name=gpus]").all():
            box.set_checked(box.get_attribute("value") in gpus)
