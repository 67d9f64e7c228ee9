"""The new-plan form and the runs pages in real headless Chromium against the real server (issue 16 items 3
and 4). No worker runs here: the tests play the worker's part through the runs repository, as
``test_browser.py`` does. Screenshots of each journey go to ``test-artifacts/``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from storage.db import session_scope
from storage.repositories import runs as runs_repo
from tests.ui.conftest import ARTIFACTS, LiveServer

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LOSSES = [2.31, 1.72, 1.18, 0.94]  # what the played fine-tune reports, one loss per optimizer step


def _rows(n: int) -> str:
    return "".join(
        json.dumps(
            {"text": f"ticket {i}: {'refund' if i % 2 else 'password'}", "label": "billing" if i % 2 else "account"}
        )
        + "\n"
        for i in range(n)
    )


def _task_with_dataset(server: LiveServer, name: str) -> str:
    task = httpx.post(f"{server.url}/v1/tasks", json={"name": name, "kind": "classification"}, timeout=30).json()
    files = {"file": ("tickets.jsonl", _rows(40))}
    uploaded = httpx.post(f"{server.url}/v1/datasets", files=files, data={"task": task["id"]}, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    return str(task["id"])


def _queue(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/runs", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def runs(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    """A plan and four queued runs: a fine-tune that verifies the plan's LoRA prediction, a second one
    behind it in the gpu queue, an ICL probe and a fine-tune of another model."""
    task = _task_with_dataset(live_server, "ticket routing")
    plan = httpx.post(
        f"{live_server.url}/v1/plans",
        json={"task": task, "grid": {"models": ["llama-3.2-1b"], "methods": [{"name": "lora"}, {"name": "icl"}]}},
        timeout=60,
    ).json()
    lora = next(r for r in plan["candidates"] if r["candidate"]["method"]["name"] == "lora")
    finetune = {"kind": "finetune", "task": task, "plan": plan["id"], "options": {"steps": len(LOSSES)}}
    verified = _queue(live_server, {**finetune, "candidate": lora["candidate"], "prediction": lora["prediction_id"]})
    behind = _queue(live_server, {**finetune, "candidate": lora["candidate"]})
    probe = _queue(
        live_server,
        {
            "kind": "icl_probe",
            "task": task,
            "candidate": {"model": "llama-3.2-1b", "method": {"name": "icl", "shots": 2}},
        },
    )
    alpha_16 = {**lora["candidate"]["method"], "alpha": 16}  # unlike LoRA's default: its label says so
    other = _queue(
        live_server, {**finetune, "candidate": {**lora["candidate"], "model": "qwen2.5-0.5b", "method": alpha_16}}
    )
    yield {
        "task": task,
        "plan": plan,
        "lora": lora,
        "verified": verified,
        "behind": behind,
        "probe": probe,
        "other": other,
    }


def test_runs_list_filters_and_follows_the_queue(page: Any, live_server: LiveServer, runs: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    page.wait_for_url("**/runs")
    table = page.locator("#runs tbody tr")
    expect(table).to_have_count(4)
    expect(page.locator("#runs-count")).to_have_text("4 runs.")
    behind = page.locator(f"#run-row-{runs['behind']['id']}")
    expect(behind.locator(".run-state")).to_contain_text("2nd in the gpu queue")
    expect(page.locator(f"#run-row-{runs['probe']['id']}")).to_contain_text("1st in the cpu queue")
    # Each row names its candidate with the API's label: a plan's run as its plan row, alpha where it differs.
    expect(page.locator(f"#run-row-{runs['verified']['id']} .run-label")).to_have_text(runs["lora"]["label"])
    assert " alpha 16 · " in runs["other"]["label"]
    expect(page.locator(f"#run-row-{runs['other']['id']} .run-label")).to_have_text(runs["other"]["label"])
    page.screenshot(path=str(ARTIFACTS / "runs-list.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "runs-list-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("Method").select_option("icl")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*/runs\?.*method=icl"))
    expect(table).to_have_count(1)
    expect(table.first).to_have_attribute("id", f"run-row-{runs['probe']['id']}")
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Model").fill("qwen2.5-0.5b")
    page.get_by_label("Status").select_option("queued")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_have_count(1)
    expect(table.first).to_have_attribute("id", f"run-row-{runs['other']['id']}")
    page.goto(f"{live_server.url}/runs?plan={runs['plan']['id']}")
    expect(table).to_have_count(3)
    page.goto(f"{live_server.url}/runs?status=succeeded")
    expect(page.locator("#runs-empty")).to_contain_text("No run matches these filters")
    page.goto(f"{live_server.url}/runs?task=no-such-task")
    expect(page.get_by_role("alert")).to_contain_text("no-such-task")
    assert page.js_errors == []


def test_run_page_draws_the_loss_curve_and_checks_the_prediction(
    page: Any, live_server: LiveServer, runs: dict[str, Any]
) -> None:
    run_id = runs["verified"]["id"]
    page.goto(f"{live_server.url}/runs/{run_id}")
    expect(page.locator("#run-progress-text")).to_contain_text("1st in the gpu queue")
    expect(page.locator("#run-progress-text")).to_contain_text("no live worker consumes the 'gpu' queue")
    predicted = runs["lora"]["accuracy"]
    accuracy_row = page.locator("#run-compare tr[data-quantity=accuracy]")
    expect(accuracy_row).to_contain_text(f"{100 * predicted['lower']:.1f} % – {100 * predicted['upper']:.1f} %")
    expect(accuracy_row).to_contain_text("not yet")
    with session_scope(live_server.database_url) as session:
        decision, _ = runs_repo.begin_delivery(session=session, run_id=run_id, worker="ui-test", max_deliveries=3)
        assert decision == "run"
        for step, loss in enumerate(LOSSES, start=1):
            progress = {"step": step, "total": len(LOSSES), "loss": loss}
            runs_repo.report_progress(session=session, run_id=run_id, progress=progress)
            # one point per progress event, as the stream delivers them
            expect(page.locator("#loss-chart circle.loss-pt")).to_have_count(step, timeout=20_000)
        expect(page.locator("#run-progress-text")).to_contain_text(f"Step 4 of 4 · loss {LOSSES[-1]}")
        measured = (predicted["lower"] + predicted["upper"]) / 2
        result = {"accuracy": measured, "peak_memory_bytes": 1_390_000_000, "wall_s": 72.4, "step_time_s": 0.42}
        runs_repo.finish_run(session=session, run_id=run_id, status="succeeded", result=result)
    expect(page.locator("#run-status")).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(page.locator("#loss-chart polyline.loss-line")).to_have_count(1)
    expect(page.locator("#loss-caption")).to_contain_text("last 0.94")
    expect(accuracy_row.locator("td").last).to_have_text("inside the interval")
    memory = page.locator("#run-result [data-field=peak_memory_bytes]")
    expect(memory).to_have_text(re.compile(r"Peak memory\s*1\.3 GiB"))
    expect(page.locator("#run-result [data-field=wall_s]")).to_have_text(re.compile(r"Wall-clock time\s*1 min 12 s"))
    expect(page.locator("#run-result")).not_to_contain_text("peak memory bytes")
    expect(page.locator("#run-cancel")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "run-page-succeeded.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "run-page-succeeded-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    # The run behind it moved up in its queue.
    page.goto(f"{live_server.url}/runs/{runs['behind']['id']}")
    expect(page.locator("#run-progress-text")).to_contain_text("1st in the gpu queue")
    assert page.js_errors == []


def test_a_failed_run_looks_failed_and_a_queued_one_cancels(
    page: Any, live_server: LiveServer, runs: dict[str, Any]
) -> None:
    run_id = runs["probe"]["id"]
    reason = "the worker could not load llama-3.2-1b: no such directory under its model roots"
    with session_scope(live_server.database_url) as session:
        runs_repo.begin_delivery(session=session, run_id=run_id, worker="ui-test", max_deliveries=3)
        runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 3, "total": 8, "phase": "evaluate"})
        runs_repo.finish_run(session=session, run_id=run_id, status="failed", result={}, error=reason)
    page.goto(f"{live_server.url}/runs/{run_id}")
    failure = page.locator("#run-failure")
    expect(failure).to_be_visible()
    expect(failure).to_contain_text("This run failed.")
    expect(failure).to_contain_text(reason)
    bar = page.locator("#run-progress")
    expect(bar).to_have_class(re.compile(r"\bstopped\b"))
    expect(bar).to_have_attribute("value", "3")  # a value: the bar stands still (no indeterminate animation)
    expect(page.locator("#run-progress-text")).to_have_text("Stopped at step 3 of 8")
    expect(page.locator("#loss-caption")).to_contain_text("reports no loss")
    page.screenshot(path=str(ARTIFACTS / "run-page-failed.png"), full_page=True)

    page.goto(f"{live_server.url}/runs/{runs['other']['id']}")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#run-failure")).to_contain_text("cancelled before it started", timeout=20_000)
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "run-page-cancelled.png"), full_page=True)
    page.goto(f"{live_server.url}/runs?status=failed")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr").first).to_contain_text(reason)
    assert page.js_errors == []


def _plans_total(server: LiveServer) -> int:
    return int(httpx.get(f"{server.url}/v1/plans", timeout=30).json()["total"])


def test_form_errors_are_beside_their_fields_in_plain_words(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/plans/new")
    before = _plans_total(live_server)
    page.locator("#max-usd").fill("1e")  # a half-typed number is an error, never "no budget"
    page.locator("#m-lora-rank").fill("sixteen")
    for box in page.locator("input[name=gpus]").all():
        box.set_checked(False)
    page.get_by_role("button", name="Predict", exact=True).click()
    errors = page.locator(".field-error")
    expect(errors).to_have_count(4)
    expect(page.locator("#task-name")).to_be_focused()
    expect(page.locator("#task-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#max-usd").locator("xpath=..").locator(".field-error")).to_have_text(
        "Budget must be a number, like 20 or 0.5."
    )
    expect(page.locator("#m-lora-rank").locator("xpath=..").locator(".field-error")).to_have_text(
        "Rank must be a whole number, like 8 or 512."
    )
    expect(page.locator("#hardware-group > .field-error")).to_have_text("Pick at least one GPU kind.")
    expect(page.locator("#form-errors")).to_be_hidden()  # no second copy in a banner
    page.screenshot(path=str(ARTIFACTS / "new-plan-errors.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "new-plan-errors-phone-dark.png"))
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})
    assert _plans_total(live_server) == before

    # Fixing a field clears its error; the server's own refusals land beside the field they name.
    page.get_by_label("Name").fill("ticket routing")
    expect(errors).to_have_count(3)
    page.locator("#max-usd").fill("0,5")  # a decimal comma is not read as 5
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.locator("#m-lora-rank")).to_be_focused()  # the first field in the form that needs a fix
    expect(page.locator("#max-usd").locator("xpath=..").locator(".field-error")).to_have_text(
        "Budget must be a number, like 20 or 0.5."
    )
    page.locator("#max-usd").fill("20")
    page.locator("#m-lora-rank").fill("8")
    page.locator("input[name=gpus][value='H100-SXM']").check()
    expect(errors).to_have_count(0)
    page.locator("#m-lora-target_modules").fill("no_such_proj")
    page.get_by_role("button", name="Predict", exact=True).click()
    target_error = page.locator("#m-lora-target_modules").locator("xpath=..").locator(".field-error")
    expect(target_error).to_contain_text("Target modules: ['no_such_proj'] matches no linear layer")
    expect(page.locator("#m-lora-target_modules")).to_be_focused()
    expect(errors).to_have_count(1)
    assert _plans_total(live_server) == before
    assert page.js_errors == []


def test_form_sends_per_method_settings_several_gpus_and_the_data_size(page: Any, live_server: LiveServer) -> None:
    models = httpx.get(f"{live_server.url}/v1/models", params={"limit": 1000}, timeout=30).json()["items"]
    page.goto(live_server.url + "/plans/new")
    page.get_by_label("Name").fill("support-ticket routing")
    page.get_by_label("Kind").select_option("classification")
    page.get_by_label("Choices (classes)").fill("3")
    page.get_by_label("Training examples").fill("2,000")
    page.get_by_label("Test examples").fill("500")

    # Model search and filters: only the matching models stay in the list; picks survive the filters.
    options = page.locator("#models label.model-option")
    page.get_by_label("Search models").fill("qwen 0.5")
    expect(options.locator("visible=true")).to_have_count(sum("qwen" in m["id"] and "0.5" in m["id"] for m in models))
    page.get_by_label("Search models").fill("")
    page.get_by_label("Size", exact=True).select_option(label="under 1 B")
    small = [m["id"] for m in models if m["total_params"] < 1e9]
    expect(options.locator("visible=true")).to_have_count(len(small))
    page.get_by_label("Family", exact=True).select_option(models[0]["family"])
    family = [m for m in models if m["family"] == models[0]["family"] and m["total_params"] < 1e9]
    expect(options.locator("visible=true")).to_have_count(len(family))
    page.get_by_label("Size", exact=True).select_option("")
    page.get_by_label("Family", exact=True).select_option("")
    license_name = next(m["license"] for m in models if m["id"] == "qwen2.5-0.5b")
    page.get_by_label("Licence", exact=True).select_option(license_name)
    expect(options.locator("visible=true")).to_have_count(sum(m["license"] == license_name for m in models))
    page.screenshot(path=str(ARTIFACTS / "new-plan-model-filters.png"), full_page=True)
    page.get_by_label("Licence", exact=True).select_option("")
    for picked in [box.get_attribute("value") for box in page.locator("input[name=models]:checked").all()]:
        page.locator(f"input[name=models][value='{picked}']").uncheck()
    for model in ("llama-3.2-1b", "qwen2.5-0.5b"):
        page.locator(f"input[name=models][value='{model}']").check()
    expect(page.locator("#models-picked")).to_have_text("2 picked: llama-3.2-1b, qwen2.5-0.5b")
    page.get_by_label("Only the picked ones").check()
    expect(options.locator("visible=true")).to_have_count(2)
    page.get_by_label("Only the picked ones").uncheck()

    # Methods: LoRA with its own rank, targets and training; ICL with its shots; the rest of the
    # fine-tunes share the training settings below.
    for box in page.locator("input[name=methods]").all():
        box.set_checked(box.get_attribute("value") in ("lora", "icl", "full"))
    page.locator("#m-lora-rank").fill("8")
    page.locator("#m-lora-target_modules").fill("all-linear")
    page.locator("#own-lora").check()
    page.locator("#t-lora-micro_batch_size").fill("4")
    page.locator("#t-lora-seq_len").fill("1024")
    page.locator("#t-lora-gradient_checkpointing").check()
    page.locator("#t-lora-precision").select_option("bf16-mixed")
    page.locator("#t-lora-epochs").fill("2")
    page.locator("#m-icl-shots").fill("4")
    page.locator("#t-all-seq_len").fill("256")
    page.locator("#t-all-precision").select_option("fp16")
    for box in page.locator("input[name=gpus]").all():
        box.set_checked(box.get_attribute("value") in ("H100-SXM", "A100-80GB"))
    page.locator("#max-usd").fill("$20")
    page.screenshot(path=str(ARTIFACTS / "new-plan-form.png"), full_page=True)
    page.get_by_role("button", name="Predict", exact=True).click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f]+$"), timeout=60_000)

    plan = httpx.get(f"{live_server.url}/v1/plans/{page.url.rsplit('/', 1)[1]}", timeout=30).json()
    request = plan["request"]
    assert request["budget"]["max_usd"] == 20
    assert (request["task"]["n_choices"], request["task"]["train_examples"], request["task"]["test_examples"]) == (
        3,
        2000,
        500,
    )
    sent = request["candidates"]
    assert len(sent) == 2 * 3 * 2  # models × methods × GPU kinds
    assert {c["hardware"]["gpu"] for c in sent} == {"H100-SXM", "A100-80GB"}
    by_method = {c["method"]["name"]: c for c in sent}
    lora, full, icl = by_method["lora"], by_method["full"], by_method["icl"]
    assert (lora["method"]["rank"], lora["method"]["target_modules"]) == (8, "all-linear")
    training = lora["training"]
    assert (training["micro_batch_size"], training["seq_len"], training["epochs"]) == (4, 1024, 2)
    assert training["gradient_checkpointing"] is True and training["precision"] == "bf16-mixed"
    assert (full["training"]["seq_len"], full["training"]["precision"]) == (256, "fp16")
    assert icl["method"]["shots"] == 4
    assert page.js_errors == []
