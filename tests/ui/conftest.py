"""Fixtures for the web UI tests: the real server in a subprocess and headless Debian Chromium.

The browser is the system ``chromium`` driven by Playwright (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1``: no
browser is ever downloaded). Browser tests skip, saying why, only when no ``chromium`` is installed or
the ``playwright`` package is missing; ``make test`` installs both.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port

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


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    log: Path


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tunecast serve --no-worker`` on a free loopback port with a fresh data directory."""
    data_dir = tmp_path_factory.mktemp("ui-server")
    port = free_port()
    log = data_dir / "server.log"
    env = {
        **os.environ,
        "TUNECAST_DATA_DIR": str(data_dir),
        "TUNECAST_DATABASE_URL": f"sqlite:///{(data_dir / 'tunecast.db').as_posix()}",
        "TUNECAST_BROKER_URL": f"sqla+sqlite:///{(data_dir / 'broker.db').as_posix()}",
        "TUNECAST_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-c", "from api.cli import app; app()", "serve", "--no-worker", "--port", str(port)]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"tunecast serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tunecast serve did not answer on {url} within 90 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield LiveServer(url=url, data_dir=data_dir, log=log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
