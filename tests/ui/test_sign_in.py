"""Signing in to a tunecast that requires API keys, in real headless Chromium against a real server: a
page redirects to the sign-in form, a wrong key is refused next to the field, a key made with
``tunecast keys create`` lands on the page first asked for, whose own API calls then work; signing out
ends it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import LiveServer, serving
from tests.ui.conftest import ARTIFACTS

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data_dir = tmp_path_factory.mktemp("keyed-server")
    with serving(data_dir, env={"TUNECAST_REQUIRE_API_KEYS": "true"}) as server:
        env = {
            **os.environ,
            "TUNECAST_DATA_DIR": str(data_dir),
            "TUNECAST_DATABASE_URL": server.database_url,
        }
        created = subprocess.run(
            [
                sys.executable,
                "-c",
                "from api.cli import app; app()",
                "keys",
                "create",
                "--name",
                "lead",
                "--scope",
                "plan",
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        token = created.stdout.strip().splitlines()[-1]
        assert token.startswith("tc_"), created.stdout
        yield server, token


def test_a_page_asks_for_a_key_and_signing_in_opens_it(page: Any, keyed_server: tuple[LiveServer, str]) -> None:
    server, token = keyed_server
    assert httpx.get(f"{server.url}/v1/plans").status_code == 401
    page.goto(f"{server.url}/workers")
    expect(page).to_have_url(f"{server.url}/sign-in?next=/workers")
    page.get_by_label("API key").fill("tc_000000000000_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#key-error")).to_contain_text("unknown or revoked")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/workers")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Workers")
    page.goto(f"{server.url}/plans/new")  # a page built from several of the API's own answers
    expect(page.locator("select, input").first).to_be_visible()
    assert page.evaluate("fetch('/v1/tasks').then((r) => r.status)") == 200  # the page script's calls
    page.screenshot(path=str(ARTIFACTS / "signed-in.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/sign-in")
    assert page.evaluate("fetch('/v1/tasks').then((r) => r.status)") == 401
    assert not page.js_errors
