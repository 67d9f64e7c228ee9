"""The plan page as a decision (issue 16, items 1, 2, 5, 6, 7) in headless Chromium against the real server:
the budget means the chosen strategy's spend and its slider always holds the typed budget; a budget nothing
fits says what the cheapest costs; the decision panel explains the pick (margin, the planner's Monte-Carlo,
probes worth buying, one of which is queued, COSMOS bands, tiers, assumptions); one candidate's memory,
time and price on every GPU kind; export, permalink, compare and delete; shapes per method, keyboard
and dark mode. Screenshots (light and dark, desktop and phone) go to ``test-artifacts/``."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db import session_scope
from storage.repositories import runs as runs_repo
from tests.processes import LiveServer
from tests.ui.conftest import ARTIFACTS

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TASK = {"name": "ticket routing", "kind": "classification", "n_choices": 2, "train_examples": 2000}
GRID = {
    "models": ["llama-3.2-1b", "qwen2.5-7b", "llama-3.1-8b"],
    "methods": [{"name": m} for m in ("lora", "qlora", "full", "icl", "zero_shot")],
    "hardware": [{"gpu": "H100-SXM", "count": 1}],
}
# Two LoRA settings that differ only in alpha: the same cost and the same forecast, so a near tie drawn
# as two points on one spot.
TWINS = [
    {"model": "llama-3.2-1b", "method": {"name": "lora", "rank": 16, "alpha": 32}},
    {"model": "llama-3.2-1b", "method": {"name": "lora", "rank": 16, "alpha": 16}},
    {"model": "qwen2.5-0.5b", "method": {"name": "zero_shot"}},
]


def usd(value: float) -> str:
    """The page's dollars (app.js fmt.usd)."""
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if abs(value) >= 0.1:
        return f"${value:.2f}"
    return "$0" if value == 0 else f"${float(f'{value:.2g}')!r}"


def pct(fraction: float, digits: int = 1) -> str:
    """The page's percentages (app.js fmt.pct): JavaScript's toFixed rounds an exact half up."""
    value = Decimal(100 * fraction).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{value} %"


def _post_plan(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/plans", json=body, timeout=60)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _stored_task_with_data(server: LiveServer, tmp_path: Path) -> str:
    # no train_examples: the task's dataset says how many there are (a run cannot train on more)
    body = {k: v for k, v in TASK.items() if k != "train_examples"}
    task = httpx.post(f"{server.url}/v1/tasks", json={**body, "name": "ticket routing (stored)"}, timeout=30).json()
    lines = [{"text": f"ticket {i}", "label": "billing" if i % 2 else "account"} for i in range(40)]
    path = tmp_path / "tickets.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with path.open("rb") as handle:
        uploaded = httpx.post(
            f"{server.url}/v1/datasets",
            files={"file": ("tickets.jsonl", handle)},
            data={"task": task["id"]},
            timeout=30,
        )
    assert uploaded.status_code in (200, 201), uploaded.text
    return str(task["id"])


def _outcome(candidate: dict[str, Any]) -> str:
    return json.dumps([candidate["model"], candidate["method"], candidate["training"]], sort_keys=True)


def _runner_up(plan: dict[str, Any], pick: dict[str, Any], budget: float) -> dict[str, Any] | None:
    """The rule the page states: the most accurate other strategy (not the pick on other hardware) under budget."""
    others = [
        r
        for r in plan["candidates"]
        if r["fits"] and r["total_usd"] <= budget and _outcome(r["candidate"]) != _outcome(pick["candidate"])
    ]
    return min(others, key=lambda r: (-r["accuracy"]["mean"], r["total_usd"])) if others else None


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_budget_is_the_strategys_spend_and_the_slider_holds_it(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    slider = page.get_by_role("slider", name="Budget for the chosen strategy")
    number = page.locator("#budget-usd")
    assert number.input_value() == "20"
    # Every candidate costs well under $20, yet the slider's end holds $20, and it comes back there.
    assert max(r["total_usd"] for r in plan["candidates"]) < 1
    slider.focus()
    page.keyboard.press("End")
    top = float(number.input_value())
    assert top >= 20
    number.fill("0.05")
    slider.focus()
    page.keyboard.press("End")
    assert float(number.input_value()) == top
    # A typed budget beyond the range widens it: the slider's end holds it too.
    number.fill("500")
    slider.focus()
    page.keyboard.press("End")
    assert float(number.input_value()) >= 500
    # The budget line lies inside the axis, not pinned to its right edge.
    number.fill("20")
    chart = page.locator("#chart svg.plot")
    right_edge = float(chart.get_attribute("width")) - 14
    assert float(page.locator("#chart line.budget-line").get_attribute("x1")) < right_edge - 1
    # Beside it, what the probes worth buying would cost on top.
    probes_usd = sum(p["probe"]["estimated_usd"] for p in plan["probes_to_buy"])
    expect(page.locator("#probe-total")).to_contain_text(
        f"+ {usd(probes_usd)} for the {len(plan['probes_to_buy'])} probes"
    )
    # "1e" is not a number: the budget stays the last number typed ("1"), it does not vanish.
    number.press("Control+a")
    number.press_sequentially("1e")
    expect(page.locator("#budget-fit")).to_contain_text("cost at most $1.00")
    best = min(
        (r for r in plan["candidates"] if r["fits"] and r["total_usd"] <= 1),
        key=lambda r: (-r["accuracy"]["mean"], r["total_usd"]),
    )
    assert page.locator("#recommendation").get_attribute("data-index") == str(best["index"])
    _shot(page, "plan-budget.png")
    assert page.js_errors == []


def test_a_budget_nothing_fits_under_says_what_the_cheapest_costs(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    cheapest = min(r["total_usd"] for r in plan["candidates"] if r["fits"])
    page.goto(f"{live_server.url}/plans/{plan['id']}?budget=0.0001")
    recommendation = page.locator("#recommendation")
    expect(recommendation).to_contain_text(f"Nothing fits under $0.0001; the cheapest that fits costs {usd(cheapest)}.")
    assert recommendation.get_attribute("data-index") == ""
    expect(page.locator("#decision-body")).to_contain_text("Nothing fits under $0.0001")
    assert page.locator("#chart .pt.off").count() == len(plan["candidates"])
    assert page.js_errors == []


def test_a_plan_created_with_a_budget_nothing_fits_shows_it(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 0.0001}})
    assert plan["recommendation"] is None
    cheapest = plan["infeasible"]["cheapest_fitting_usd"]
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.locator("#recommendation")).to_contain_text(
        f"Nothing fits under $0.0001; the cheapest that fits costs {usd(cheapest)}."
    )
    expect(page.locator("#decision-body")).to_contain_text("Nothing fits under $0.0001")
    assert page.locator("#budget-usd").input_value() == "0.0001"
    _shot(page, "plan-nothing-fits.png")
    assert page.js_errors == []


def test_a_plan_where_no_candidate_fits_its_gpu_says_so(page: Any, live_server: LiveServer) -> None:
    grid = {"models": ["llama-3.1-8b"], "methods": [{"name": "full"}], "hardware": [{"gpu": "L4", "count": 1}]}
    plan = _post_plan(live_server, {"task": TASK, "grid": grid, "budget": {"max_usd": 5}})
    assert plan["recommendation"] is None and plan["infeasible"]["cheapest_fitting_usd"] is None
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.locator("#recommendation")).to_contain_text(
        "Nothing fits under $5.00; no candidate fits in GPU memory."
    )
    expect(page.locator("#candidates tbody tr").first).to_contain_text("fits")
    assert page.js_errors == []


def test_the_decision_is_explained_and_a_probe_is_queued_in_one_click(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    task_id = _stored_task_with_data(live_server, tmp_path)
    plan = _post_plan(live_server, {"task": task_id, "grid": GRID, "budget": {"max_usd": 20}})
    rows = {r["index"]: r for r in plan["candidates"]}
    pick = rows[plan["recommendation"]["index"]]
    runner = _runner_up(plan, pick, 20)
    assert runner is not None
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    decision = page.locator("#decision-body")
    margin = pick["accuracy"]["mean"] - runner["accuracy"]["mean"]
    expect(page.locator("#decision-margin")).to_contain_text(
        f"{100 * margin:.1f} points over {runner['candidate']['model']}"
    )
    expect(page.locator("#recommendation .rec-label")).to_contain_text(f"{100 * margin:.1f} points ahead")
    # The planner's Monte-Carlo: the share of its draws in which the pick is the most accurate.
    top = max(plan["probes_to_buy"], key=lambda p: p["probability_beats_recommendation"])
    assert plan["recommendation"]["probability_best"] <= 1 - top["probability_beats_recommendation"] + 1e-9
    expect(page.locator("#decision-chance")).to_contain_text(
        f"{pct(plan['recommendation']['probability_best'], 0)} (the planner's Monte-Carlo"
    )
    expect(page.locator("#decision-chance")).not_to_contain_text("At most")
    expect(page.locator("#decision-chance")).to_contain_text(
        f"expected regret {100 * plan['recommendation']['expected_regret']:.1f} points"
    )
    expect(decision).to_contain_text(pick["accuracy"]["predictor"])
    # The probes worth buying, each with its price and what it would settle.
    probe_rows = page.locator("#probes tbody tr")
    assert probe_rows.count() == len(plan["probes_to_buy"])
    for k, probe in enumerate(plan["probes_to_buy"]):
        text = probe_rows.nth(k).inner_text()
        assert usd(probe["probe"]["estimated_usd"]) in text
        assert f"{pct(probe['probability_beats_recommendation'], 0)} chance it does" in text
    # COSMOS bands and the assumptions every cost made.
    for name, band in plan["bands"].items():
        expect(page.locator(f"#bands li[data-band='{name}']")).to_contain_text(usd(band["total_usd"]))
    page.locator("#assumptions summary").click()
    for assumption in {a for r in plan["candidates"] for a in r["cost"]["assumptions"]}:
        expect(page.locator("#assumptions")).to_contain_text(assumption)
    # Tiers and columns explained: a legend and each header's tooltip.
    page.locator("#glossary summary").click()
    for tier in ("prior", "probe", "measured"):
        expect(page.locator("#tier-legend")).to_contain_text(tier)
    assert "adaptation (training) + evaluation" in page.locator("th[data-help=cost]").get_attribute("title")
    explained = page.locator(f"#cand-{pick['index']} td[data-tier]").all()  # accuracy, interval, tier
    assert len(explained) == 3
    for cell in explained:
        assert pick["accuracy"]["predictor"] in cell.get_attribute("title")
    assert "cost model" in page.locator(f"#cand-{pick['index']} td[data-help=cost]").get_attribute("title")
    _shot(page, "plan-decision.png")

    # One click queues the first probe through the verify dialog; the run is the probe the planner named.
    first = plan["probes_to_buy"][0]
    page.locator("#probes button.queue-probe").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Buy a probe")).to_be_visible()
    dialog.get_by_role("button", name="Queue run").click()
    link = page.locator("#probe-0-status a.run-link")
    expect(link).to_contain_text("Probe queued")
    run_id = link.get_attribute("href").rsplit("/", 1)[1]
    run = httpx.get(f"{live_server.url}/v1/runs/{run_id}", timeout=30).json()
    target = rows[first["index"]]["candidate"]
    assert (run["kind"], run["plan"], run["task"]) == (first["probe"]["kind"], plan["id"], task_id)
    assert run["candidate"]["method"] == target["method"]
    if "data_fraction" in first["probe"]:  # a fraction of the candidate's own data
        own = target["training"].get("data_fraction") or 1.0
        assert run["candidate"]["training"]["data_fraction"] == pytest.approx(own * first["probe"]["data_fraction"])
    assert page.js_errors == []


def test_a_plan_row_follows_its_run_until_it_fails(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    task_id = _stored_task_with_data(live_server, tmp_path)
    plan = _post_plan(live_server, {"task": task_id, "grid": GRID, "budget": {"max_usd": 20}})
    pick = plan["recommendation"]["index"]
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    page.locator(f"#cand-{pick} button.verify").click()
    page.get_by_role("dialog").get_by_role("button", name="Queue run").click()
    link = page.locator(f"#cand-{pick}-status a.run-link")
    expect(link).to_contain_text(re.compile(r"Run queued · \d+(st|nd|rd|th) in the \w+ queue"))
    run_id = link.get_attribute("href").rsplit("/", 1)[1]
    run = httpx.get(f"{live_server.url}/v1/runs/{run_id}", timeout=30).json()
    assert run["prediction"] == next(r for r in plan["candidates"] if r["index"] == pick)["prediction_id"]
    assert re.search(rf"· {run['queue_position']}\D+ in the {run['queue']} queue", link.inner_text())
    # The worker's part, played through the runs repository: it starts the run, then the run fails.
    database = live_server.database_url
    reason = "CUDA out of memory at step 3"
    with session_scope(database) as session:
        runs_repo.begin_delivery(session=session, run_id=run_id, worker="ui-test", max_deliveries=3)
        runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 3, "total": 8})
    expect(link).to_contain_text("Run running step 3 of 8")
    with session_scope(database) as session:
        runs_repo.finish_run(session=session, run_id=run_id, status="failed", result={}, error=reason)
    expect(link).to_contain_text(f"Run failed: {reason}")  # without reloading: the page polls the plan's runs
    expect(page.locator(f"#cand-{pick}-status")).to_have_class(re.compile(r"\bwarn\b"))
    _shot(page, "plan-row-run-failed.png")
    page.locator(f"#cand-{pick}").screenshot(path=str(ARTIFACTS / "plan-row-run-failed-row.png"))
    # A fresh load finds the plan's runs too: each row shows its latest run's state.
    page.reload()
    expect(page.locator(f"#cand-{pick}-status a.run-link")).to_contain_text(f"Run failed: {reason}")
    assert page.locator(f"#cand-{pick}-status a.run-link").get_attribute("href") == f"/runs/{run_id}"
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(f"#cand-{pick}").scroll_into_view_if_needed()
    expect(page.locator(f"#cand-{pick}-status a.run-link")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "plan-row-run-failed-dark-phone.png"))
    assert page.js_errors == []


def test_a_near_tie_says_how_close_and_overlapping_points_can_be_hovered(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "candidates": TWINS})
    a, b = plan["candidates"][0], plan["candidates"][1]
    assert a["accuracy"]["mean"] == b["accuracy"]["mean"] and a["total_usd"] == b["total_usd"]
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.locator("#recommendation .rec-label")).to_contain_text("0.0 points ahead, near tie")
    expect(page.locator("#decision-margin")).to_contain_text("a near tie")
    # Both points sit on one spot: hovering it names both.
    pick = plan["recommendation"]["index"]
    other = 1 - pick
    page.locator(f"#chart .pt[data-index='{pick}'] .dot").hover()
    tooltip = page.locator("#chart-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("Also here:")
    # Their labels differ where the candidates do (alpha 16 against the default 32), in the tooltip and the table.
    labels = {a["label"], b["label"]}
    assert labels == {"llama-3.2-1b · lora r16 · 1× H100-SXM", "llama-3.2-1b · lora r16 alpha 16 · 1× H100-SXM"}
    assert all(label in tooltip.inner_text() for label in labels)
    expect(page.locator("#cand-1 td").nth(1)).to_have_text("lora r16 alpha 16")
    expect(page.locator("#cand-0 td").nth(1)).to_have_text("lora r16")
    # Each can still be reached from the keyboard, and says what it is.
    page.locator(f"#chart .pt[data-index='{other}']").focus()
    expect(tooltip.locator("strong")).to_have_text(plan["candidates"][other]["label"])
    _shot(page, "plan-near-tie.png")
    assert page.js_errors == []


def test_a_candidates_memory_time_and_every_gpu_kind(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    hardware = {h["id"]: h for h in httpx.get(f"{live_server.url}/v1/hardware", timeout=30).json()["items"]}
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    # The pick is shown first; a candidate that does not fit says why, against the GPU's usable memory.
    expect(page.locator("#details-title")).to_contain_text(plan["recommendation"]["candidate"]["model"])
    big = next(r for r in plan["candidates"] if not r["fits"])
    page.locator(f"#cand-{big['index']} button.details").click()
    expect(page.locator("#details-title")).to_contain_text(big["candidate"]["model"] + " · full")
    gpu = hardware[big["candidate"]["hardware"]["gpu"]]
    usable = (gpu["memory_bytes"] - 600 * 2**20) / 1.03
    verdict = page.locator("#memory-verdict")
    expect(verdict).to_contain_text(f"Peak {big['cost']['peak_memory_bytes'] / 2**30:.1f} GiB per GPU: does not fit")
    expect(verdict).to_contain_text(
        f"usable for tensors: ({gpu['memory_bytes'] / 2**30:.1f} GiB − 0.6 GiB CUDA context)"
    )
    expect(verdict).to_contain_text(
        f"= {usable / 2**30:.1f} GiB, against {big['cost']['allocated_bytes'] / 2**30:.1f} GiB allocated"
    )
    parts = {k: v for k, v in big["cost"]["memory_breakdown"].items() if v > 0}
    assert page.locator("#memory-chart rect.part").count() == len(parts)
    expect(page.locator("#memory-chart .memory-legend")).to_contain_text(
        f"Optimizer states {parts['optimizer'] / 2**30:.1f} GiB"
    )
    expect(page.locator("#time-facts")).to_contain_text("Wall-clock")
    expect(page.locator("#time-facts")).to_contain_text(f"{big['cost']['train_steps']} steps")
    # The same candidate on every GPU kind, priced by POST /v1/cost.
    page.get_by_role("button", name="Price it on every GPU kind").click()
    table = page.locator("#gpu-table table")
    expect(table.locator("tbody tr")).to_have_count(len(hardware))
    kinds = list(hardware)
    candidates = [{**big["candidate"], "hardware": {"gpu": k, "count": 1}} for k in kinds]
    costs = httpx.post(f"{live_server.url}/v1/cost", json={"candidates": candidates}, timeout=60).json()["results"]
    for kind, cost in zip(kinds, costs, strict=True):
        row = table.locator(f"tr[data-gpu='{kind}']")
        expect(row).to_contain_text("fits" if cost["fits"] else "does not fit")
        expect(row).to_contain_text(usd(cost["total_usd"]))
    assert "is-rec" in table.locator(f"tr[data-gpu='{gpu['id']}']").get_attribute("class")
    # What if it trained with a micro batch of 1 and checkpointing? Re-priced like POST /v1/cost says.
    page.get_by_label("Micro batch").fill("1")
    page.get_by_label("Gradient checkpointing").check()
    page.get_by_role("button", name="Re-price").click()
    training = {**big["candidate"]["training"], "micro_batch_size": 1, "gradient_checkpointing": True}
    what_if = httpx.post(
        f"{live_server.url}/v1/cost", json={"candidates": [{**big["candidate"], "training": training}]}, timeout=60
    ).json()["results"][0]
    status = page.locator("#wi-status")
    expect(status).to_contain_text(f"peak {what_if['peak_memory_bytes'] / 2**30:.1f} GiB")
    expect(status).to_contain_text(
        f"{'does not fit' if not what_if['fits'] else 'fits'}, spends {usd(what_if['total_usd'])}"
    )
    expect(verdict).to_contain_text(f"Peak {what_if['peak_memory_bytes'] / 2**30:.1f} GiB per GPU")
    page.get_by_role("button", name="As planned").click()
    expect(verdict).to_contain_text(f"Peak {big['cost']['peak_memory_bytes'] / 2**30:.1f} GiB per GPU: does not fit")
    _shot(page, "plan-candidate-details.png")
    assert page.js_errors == []


def test_export_permalink_and_delete(page: Any, live_server: LiveServer) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.get_by_role("link", name="Permalink")).to_have_attribute("href", f"/plans/{plan['id']}")
    assert page.url == f"{live_server.url}/plans/{plan['id']}"  # nothing changed yet: the plain address
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert download.value.suggested_filename == f"plan-{plan['id']}-v1.csv"
    assert len(rows) == len(plan["candidates"])
    by_index = {int(r["index"]): r for r in rows}
    for row in plan["candidates"]:
        exported = by_index[row["index"]]
        assert exported["model"] == row["candidate"]["model"]
        assert float(exported["total_usd"]) == pytest.approx(row["total_usd"], rel=1e-12)
        assert float(exported["accuracy_mean"]) == pytest.approx(row["accuracy"]["mean"], rel=1e-12)
        assert exported["tier"] == row["accuracy"]["tier"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Export JSON").click()
    exported_json = json.loads(Path(download.value.path()).read_text())
    assert [r["index"] for r in exported_json["rows"]] == [r["index"] for r in plan["candidates"]]
    assert [r["recommended"] for r in exported_json["rows"]].count(True) == 1

    # Permalink: the budget and the sort live in the URL; opening it restores both.
    page.locator("#budget-usd").fill("0.05")
    page.locator("#candidates th[data-help=acc] button").click()
    page.locator("#candidates th[data-help=acc] button").click()
    expect(page).to_have_url(re.compile(r"\?budget=0\.05&sort=acc%3Adesc$"))
    link = page.get_by_role("link", name="Permalink").get_attribute("href")
    fresh = page.context.new_page()
    fresh.goto(live_server.url + link)
    assert fresh.locator("#budget-usd").input_value() == "0.05"
    assert fresh.locator("#candidates th[data-help=acc]").get_attribute("aria-sort") == "descending"
    best = min(
        (r for r in plan["candidates"] if r["fits"] and r["total_usd"] <= 0.05),
        key=lambda r: (-r["accuracy"]["mean"], r["total_usd"]),
    )
    assert fresh.locator("#recommendation").get_attribute("data-index") == str(best["index"])
    fresh.close()

    # Delete, after a confirmation: back on the list, which says so; the API no longer has it.
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Predictions that a run verified stay")
    dialog.get_by_role("button", name="Keep it").click()
    assert httpx.get(f"{live_server.url}/v1/plans/{plan['id']}", timeout=30).status_code == 200
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog.get_by_role("button", name="Delete plan").click()
    page.wait_for_url(re.compile(r".*/\?deleted="))
    expect(page.locator("#deleted-notice")).to_contain_text(plan["id"])
    _shot(page, "plans-list-after-delete.png")
    assert httpx.get(f"{live_server.url}/v1/plans/{plan['id']}", timeout=30).status_code == 404
    assert page.js_errors == []


def test_compare_two_plans_and_two_versions_of_one(page: Any, live_server: LiveServer) -> None:
    small = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 0.05}})
    large = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    page.goto(live_server.url + "/")
    page.get_by_label(f"Compare plan {small['id'][:8]}").check()
    page.get_by_label(f"Compare plan {large['id'][:8]}").check()
    page.get_by_role("button", name="Compare the two ticked").click()
    page.wait_for_url(re.compile(r".*/plans/compare\?"))
    summary = page.locator("#cmp-summary")
    picks = summary.locator("td.pick")
    expect(picks.nth(0)).to_contain_text(small["recommendation"]["candidate"]["model"])
    expect(picks.nth(1)).to_contain_text(large["recommendation"]["candidate"]["model"])
    same = small["recommendation"]["index"] == large["recommendation"]["index"]
    expect(page.locator("#cmp-verdict")).to_contain_text("The same pick in both." if same else "The picks differ.")
    expect(page.locator("#cmp-rows tbody tr")).to_have_count(len(small["candidates"]))
    _shot(page, "plan-compare.png")

    # A measurement re-predicts the plan (version 2): its page links the comparison of the two versions.
    pick = large["recommendation"]["candidate"]
    measured = {"task": TASK["name"], "candidate": pick, "accuracy": 0.42, "source": "import:ui-test"}
    assert httpx.post(f"{live_server.url}/v1/measurements", json=[measured], timeout=30).status_code == 201
    page.goto(f"{live_server.url}/plans/{large['id']}")
    page.get_by_role("link", name="Compare version 1 with 2").click()
    label = f"{pick['model']} · {pick['method']['name']} · 1× {pick['hardware']['gpu']}"
    measured_row = page.locator("#cmp-rows tbody tr", has_text=label)
    expect(measured_row).to_have_count(1)
    expect(measured_row).to_contain_text("→ measured")
    before = large["recommendation"]["accuracy"]["mean"]
    expect(measured_row.locator("td[data-change]")).to_have_text(f"{100 * (0.42 - before):+.1f} points")
    _shot(page, "plan-compare-versions.png")
    assert page.js_errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_method_by_shape_keyboard_and_dark_mode(page: Any, live_server: LiveServer, scheme: str) -> None:
    plan = _post_plan(live_server, {"task": TASK, "grid": GRID, "budget": {"max_usd": 20}})
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.locator("html")).to_have_css(
        "background-color", "rgb(15, 18, 23)" if scheme == "dark" else "rgb(247, 248, 250)"
    )
    # LoRA and QLoRA differ in shape, not only in colour; the legend shows the same shapes.
    shape: dict[str, set[str | None]] = {}
    for row in plan["candidates"]:
        shape.setdefault(row["candidate"]["method"]["name"], set()).add(
            page.locator(f"#chart .pt[data-index='{row['index']}']").get_attribute("data-shape")
        )
    assert all(len(s) == 1 for s in shape.values())
    assert len({s.pop() for s in shape.values()}) == len(shape)
    assert page.locator("#legend svg.marker").count() == len(shape)
    # Keyboard: Tab from the slider reaches the chart's points; Enter on one opens its details.
    page.locator("#chart .pt").first.focus()
    page.keyboard.press("Tab")
    focused = page.locator("#chart .pt:focus")
    expect(focused).to_have_count(1)
    index = focused.get_attribute("data-index")
    page.keyboard.press("Enter")
    expect(page.locator("#details-title")).to_contain_text(
        next(r for r in plan["candidates"] if str(r["index"]) == index)["candidate"]["model"]
    )
    _shot(page, f"plan-{scheme}-desktop.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    _shot(page, f"plan-{scheme}-phone.png")
    page.set_viewport_size({"width": 1280, "height": 800})
    assert page.js_errors == []


def test_the_versions_view_says_which_measurement_moved_each_forecast(page: Any, live_server: LiveServer) -> None:
    """Issue #12 item 6 on the page: each moved forecast of a version names the evidence that moved it."""
    task = {**TASK, "name": "ticket routing (reasons)"}
    plan = _post_plan(live_server, {"task": task, "grid": GRID, "budget": {"max_usd": 20}})
    pick = plan["recommendation"]["candidate"]
    measured = {"task": task["name"], "candidate": pick, "accuracy": 0.47, "source": "import:ui-reasons"}
    response = httpx.post(f"{live_server.url}/v1/measurements", json=[measured], timeout=30)
    assert response.status_code == 201, response.text
    measurement_id = response.json()[0]["id"]
    page.goto(f"{live_server.url}/plans/{plan['id']}")
    expect(page.locator("#repredicted")).to_contain_text("Re-predicted")
    page.get_by_text("What moved, and why").click()
    label = f"{pick['model']} · {pick['method']['name']} · 1× {pick['hardware']['gpu']}"
    line = page.locator("#version-history ul.moved[data-version='2'] li", has_text=label)
    expect(line).to_have_count(1)
    expect(line).to_contain_text(f"→ {pct(0.47)} (measured)")
    because = line.locator(".because")
    expect(because).to_contain_text(f"because of a measured run of this candidate: {measurement_id} (")
    expect(because).to_contain_text(f", {pick['model']}, import:ui-reasons)")
    _shot(page, "plan-version-reasons.png")
    assert page.js_errors == []
