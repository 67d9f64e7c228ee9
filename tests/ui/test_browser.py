"""The web UI in real headless Chromium against the real server: create a plan through the form, move the
budget slider and see the recommendation change (client-side, no request), use the chart and the table
from the keyboard, queue a verification run and see its status on the run page. Screenshots of the plan
page at 1280×800 and at phone width go to ``test-artifacts/``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db import session_scope
from storage.repositories import runs as runs_repo
from tests.factories import verify_a_prediction
from tests.ui.conftest import ARTIFACTS, LiveServer, pick_in_new_plan_form

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MODELS = ["llama-3.2-1b", "qwen2.5-7b", "llama-3.1-8b"]
METHODS = ["lora", "qlora", "full", "icl", "zero_shot"]


def _dataset(path: Path) -> Path:
    lines = [
        {
            "text": f"ticket {i}: {'refund please' if i % 2 else 'password reset'}",
            "label": "billing" if i % 2 else "account",
        }
        for i in range(40)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def _best_under(rows: list[dict[str, Any]], budget: float) -> int | None:
    """The rule the page implements: highest predicted accuracy costing <= budget and fitting; ties -> cheaper."""
    feasible = [r for r in rows if r["fits"] and r["total_usd"] <= budget]
    if not feasible:
        return None
    return int(min(feasible, key=lambda r: (-r["accuracy"]["mean"], r["total_usd"]))["index"])


def _create_plan_through_the_form(page: Any, server: LiveServer, tmp_path: Path) -> str:
    page.goto(server.url + "/")
    page.get_by_role("link", name="New plan").first.click()
    page.wait_for_url("**/plans/new")
    page.get_by_label("Name").fill("support-ticket routing")
    page.get_by_label("Kind").select_option("classification")
    page.get_by_label("Choices (classes)").fill("2")
    page.get_by_label("Training examples").fill("2000")
    pick_in_new_plan_form(page, models=MODELS, methods=set(METHODS), gpus={"H100-SXM"})
    page.locator("#task-dataset").set_input_files(str(_dataset(tmp_path / "tickets.jsonl")))
    page.get_by_role("button", name="Predict", exact=True).click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f]+$"), timeout=60_000)
    return page.url.rsplit("/", 1)[1]


def test_plan_budget_chart_table_and_verify(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    plan_id = _create_plan_through_the_form(page, live_server, tmp_path)
    plan = httpx.get(f"{live_server.url}/v1/plans/{plan_id}", timeout=30).json()
    rows = plan["candidates"]
    assert len(rows) == len(MODELS) * len(METHODS)
    assert plan["request"]["task_id"], "a dataset was uploaded, so the plan is for a stored task"

    recommendation = page.locator("#recommendation")
    initial = int(recommendation.get_attribute("data-index"))
    assert initial == plan["recommendation"]["index"]
    page.screenshot(path=str(ARTIFACTS / "plan-page.png"), full_page=True)

    # The slider moves the recommendation in the page itself: no request may leave while it moves.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    slider = page.get_by_role("slider", name="Budget for the chosen strategy")
    slider.focus()
    page.keyboard.press("Home")
    assert recommendation.get_attribute("data-index") == ""
    assert "Nothing fits under $" in recommendation.text_content()
    page.keyboard.press("End")
    assert int(recommendation.get_attribute("data-index")) == _best_under(
        rows, float(page.locator("#budget-usd").input_value())
    )
    # A budget under the best candidate's cost picks a cheaper one, exactly as the rule says.
    best_cost = next(r["total_usd"] for r in rows if r["index"] == initial)
    cheaper = sorted({r["total_usd"] for r in rows if r["fits"] and r["total_usd"] < best_cost})
    assert cheaper, "the grid has candidates cheaper than the recommendation"
    budget = cheaper[-1]
    page.locator("#budget-usd").fill(repr(budget))
    expected = _best_under(rows, budget)
    assert expected is not None and expected != initial
    assert int(recommendation.get_attribute("data-index")) == expected
    assert page.locator(f"#cand-{expected}").get_attribute("class").split().count("is-rec") == 1
    # Arrow keys on the slider move the budget too.
    slider.focus()
    before = page.locator("#budget-usd").input_value()
    page.keyboard.press("ArrowLeft")
    assert page.locator("#budget-usd").input_value() != before
    assert not [url for url in requests if "/v1/" in url], f"the slider made requests: {requests}"
    page.screenshot(path=str(ARTIFACTS / "plan-page-budget.png"), full_page=True)

    # Chart: one point per candidate, a frontier line, a tooltip with the cost breakdown on focus.
    assert page.locator("#chart .pt").count() == len(rows)
    assert page.locator("#chart polyline.frontier").count() == (1 if len(plan["frontier"]) > 1 else 0)
    point = page.locator(f"#chart .pt[data-index='{initial}']")
    point.focus()
    tooltip = page.locator("#chart-tooltip")
    expect(tooltip).to_be_visible()  # auto-waits: the tooltip is shown on the focus/hover event
    text = tooltip.inner_text()
    for label in ("Total", "GPU-hours", "Peak memory"):
        assert label in text
    page.locator("#chart .pt .dot").nth(1).hover()
    expect(tooltip).to_be_visible()  # auto-waits: the tooltip is shown on the focus/hover event

    # Table: sortable by clicking and from the keyboard.
    accuracy_header = page.locator("#candidates thead th", has_text="Accuracy").first
    accuracy_header.get_by_role("button").click()
    assert accuracy_header.get_attribute("aria-sort") == "ascending"
    values = [
        float(v)
        for v in page.locator("#candidates tbody tr td:nth-child(7)").evaluate_all(
            "tds => tds.map(td => td.dataset.sort)"
        )
    ]
    assert values == sorted(values)
    accuracy_header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    assert accuracy_header.get_attribute("aria-sort") == "descending"
    values = [
        float(v)
        for v in page.locator("#candidates tbody tr td:nth-child(7)").evaluate_all(
            "tds => tds.map(td => td.dataset.sort)"
        )
    ]
    assert values == sorted(values, reverse=True)

    # Verify a LoRA candidate: a real fine-tune run is queued and its page shows the status.
    lora = next(r for r in rows if r["candidate"]["method"]["name"] == "lora")
    page.locator(f"#cand-{lora['index']} button.verify").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#verify-worker")).to_contain_text("No worker is live right now")
    dialog.get_by_label("Model path").fill("/etc/passwd")  # workers open nothing outside their model roots
    dialog.get_by_role("button", name="Queue run").click()
    expect(dialog.get_by_role("alert")).to_contain_text("outside the model roots")
    dialog.get_by_label("Model path").fill("")  # the worker finds the model by its id
    dialog.get_by_label("Optimizer steps").fill("2")
    dialog.get_by_role("button", name="Queue run").click()
    link = page.locator(f"#cand-{lora['index']}-status a.run-link")
    link.wait_for()
    expect(dialog).to_be_hidden()
    link.click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    status = page.locator("#run-status")
    assert status.get_attribute("data-status") in {"queued", "running", "succeeded", "failed"}
    assert status.inner_text() == status.get_attribute("data-status")
    run = httpx.get(f"{live_server.url}/v1/runs/{run_id}", timeout=30).json()
    assert (run["kind"], run["plan"], run["task"]) == ("finetune", plan_id, plan["request"]["task_id"])
    assert run["candidate"]["model"] == {"id": lora["candidate"]["model"]}
    assert run["options"]["steps"] == 2
    expect(page.locator("#run-progress-text")).to_contain_text("no live worker consumes the 'gpu' queue")
    assert page.get_by_role("link", name=f"plan {plan_id}").count() == 1
    # The page follows the run live as a worker moves it (no worker runs here: the test plays its part).
    _play_worker(live_server, run_id, page)
    page.screenshot(path=str(ARTIFACTS / "run-page.png"), full_page=True)

    # Phone width: the page reflows; only the table scrolls sideways, inside its own box.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/plans/{plan_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    assert page.locator("#chart svg").bounding_box()["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "plan-page-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert page.js_errors == []


def _play_worker(server: LiveServer, run_id: str, page: Any) -> None:
    status = page.locator("#run-status")
    with session_scope(server.database_url) as session:
        decision, _ = runs_repo.begin_delivery(session=session, run_id=run_id, worker="ui-test", max_deliveries=3)
        assert decision == "run"
        runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 1, "total": 2, "loss": 0.6931})
        # locator assertions, not wait_for_function: the pages' Content-Security-Policy forbids eval
        expect(status).to_have_attribute("data-status", "running", timeout=20_000)
        expect(page.locator("#run-progress-text")).to_contain_text("Step 1 of 2", timeout=20_000)
        assert "loss 0.6931" in page.locator("#run-progress-text").inner_text()
        assert page.locator("#run-progress").evaluate("p => [p.value, p.max]") == [1, 2]
        runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 2, "total": 2, "loss": 0.4})
        runs_repo.finish_run(
            session=session, run_id=run_id, status="succeeded", result={"accuracy": 0.7, "train_s": 1.5}
        )
    expect(status).to_have_attribute("data-status", "succeeded", timeout=20_000)
    assert status.inner_text() == "succeeded"
    assert "70.0 %" in page.locator("#run-result").inner_text()
    assert page.locator("#run-cancel").is_hidden()


def _verified_prediction(server: LiveServer) -> None:
    """A finished run that verified one of a plan's stored predictions, as a worker would record it."""
    plan = httpx.post(
        f"{server.url}/v1/plans",
        json={
            "task": {"name": "calibration demo", "kind": "multiple_choice", "n_choices": 4},
            "grid": {"models": ["qwen2.5-0.5b", "llama-3.2-1b"], "methods": [{"name": "lora"}, {"name": "icl"}]},
        },
        timeout=60,
    ).json()
    with session_scope(server.database_url) as session:
        verify_a_prediction(session, plan["id"], task="calibration demo", accuracy=0.61)


def test_list_and_calibration_pages(page: Any, live_server: LiveServer) -> None:
    _verified_prediction(live_server)
    page.goto(live_server.url + "/calibration")
    expect(page.get_by_role("heading", name="Calibration", exact=True)).to_be_visible()
    assert page.locator("#calibration-summary table tbody tr").count() >= 2  # overall + one group
    assert page.locator("#calibration-chart svg .pt").count() == 1
    page.locator("#calibration-chart svg .pt").focus()
    assert "Measured 61.0 %" in page.locator("#calibration-chart .tooltip").inner_text()
    page.screenshot(path=str(ARTIFACTS / "calibration-page.png"), full_page=True)
    page.goto(live_server.url + "/")
    page.screenshot(path=str(ARTIFACTS / "plans-page.png"), full_page=True)
    page.goto(live_server.url + "/plans/new")
    page.get_by_role("button", name="Predict", exact=True).click()
    errors = page.get_by_role("alert")
    assert "Give the task a name" in errors.inner_text()
    page.screenshot(path=str(ARTIFACTS / "new-plan-page.png"), full_page=True)
    assert page.js_errors == []
