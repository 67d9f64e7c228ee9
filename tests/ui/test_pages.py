"""The UI's pages as HTML (no browser): each renders from the real API, escapes what it embeds, answers
404 pages for unknown ids, and uses only assets this server serves."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from api.ui import STATIC_DIR
from api.ui.routes import UI_DIR

PLAN = {
    "task": {"name": "</script><script>alert(1)</script>", "kind": "multiple_choice", "n_choices": 4},
    "grid": {"models": ["llama-3.2-1b", "qwen2.5-0.5b"], "methods": [{"name": "lora"}, {"name": "icl"}]},
}


def _plan(client: TestClient) -> dict[str, Any]:
    response = client.post("/v1/plans", json=PLAN)
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


def test_read_pages(sqlite_client: TestClient) -> None:
    for path, heading in [("/", "Plans"), ("/plans/new", "New plan"), ("/calibration", "Calibration")]:
        response = sqlite_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert f"<h1>{heading}</h1>" in response.text or f"<h1>{heading}" in response.text


def test_read_new_plan_form_lists_the_catalogs(sqlite_client: TestClient) -> None:
    html = sqlite_client.get("/plans/new").text
    # the models and methods reach the form's script as JSON: it draws the picker and each method's fields
    embedded = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html))
    assert "llama-3.1-8b" in {model["id"] for model in json.loads(embedded["form-models"])}
    methods = {method["name"]: method for method in json.loads(embedded["form-methods"])}
    for method in ("lora", "qlora", "full", "icl", "zero_shot", "rag_icl"):
        assert methods[method]["parameter_schema"]["properties"]["name"]["const"] == method
    assert "seq_len" in json.loads(embedded["form-training"])["properties"]
    assert 'name="gpus" value="H100-SXM" checked>' in html
    # every form control has a label
    ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)
    for control in ids:
        assert f'for="{control}"' in html, control


def test_read_plan_page(sqlite_client: TestClient) -> None:
    plan = _plan(sqlite_client)
    response = sqlite_client.get(f"/plans/{plan['id']}")
    assert response.status_code == 200
    html = response.text
    assert html.count('<tr id="cand-') == len(plan["candidates"]) == 4
    assert f'data-index="{plan["recommendation"]["index"]}"' in html
    assert 'id="budget-range"' in html and 'id="budget-usd"' in html
    # the task name is embedded as data and as text, never as markup
    assert "<script>alert(1)</script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert "\\u003c/script\\u003e" in html
    listing = sqlite_client.get("/").text
    assert f'href="/plans/{plan["id"]}"' in listing


def test_read_plan_not_found(sqlite_client: TestClient) -> None:
    for path in ("/plans/does-not-exist", "/runs/does-not-exist"):
        response = sqlite_client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "does-not-exist" in response.text
    response = sqlite_client.get("/plans/" + "x" * 65)
    assert response.status_code == 422


def test_static_assets_are_served_locally(sqlite_client: TestClient) -> None:
    for name in ("app.js", "plan.js", "new_plan.js", "run.js", "calibration.js", "app.css"):
        assert sqlite_client.get(f"/static/{name}").status_code == 200
    for path in [*UI_DIR.joinpath("templates").glob("*.html"), *STATIC_DIR.iterdir()]:
        text = path.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name} refers to {urls}"


def _cancelled_runs(database_url: str, n: int) -> None:
    """``n`` cancelled runs (no worker picks them up), created one after another."""
    from storage.db import session_scope
    from storage.models import RunRow

    with session_scope(database_url) as session:
        for i in range(n):
            candidate = {"model": {"id": "gpt2"}, "method": {"name": "lora", "r": i + 1}}
            session.add(RunRow(kind="finetune", status="cancelled", candidate=candidate, progress={}, result={}))
            session.flush()
        session.commit()


def test_runs_list_pages_keep_their_filters(client: TestClient, settings: Any) -> None:
    from api.ui.paging import PAGE_SIZE

    _cancelled_runs(settings.database_url, PAGE_SIZE + 5)
    first = client.get("/runs", params={"status": "cancelled"}).text
    embedded = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', first))
    assert len(json.loads(embedded["runs-data"])["items"]) == PAGE_SIZE
    assert f"Runs 1–{PAGE_SIZE} of {PAGE_SIZE + 5}" in first
    assert 'href="/runs?status=cancelled&amp;page=2"' in first and "pager-newer" not in first
    second = client.get("/runs", params={"status": "cancelled", "page": "2"}).text
    embedded = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', second))
    rows = json.loads(embedded["runs-data"])["items"]
    assert len(rows) == 5 and {r["candidate"]["method"]["r"] for r in rows} == {1, 2, 3, 4, 5}  # the oldest
    assert json.loads(embedded["runs-query"]) == {"status": "cancelled", "limit": PAGE_SIZE, "offset": PAGE_SIZE}
    assert f"Runs {PAGE_SIZE + 1}–{PAGE_SIZE + 5} of {PAGE_SIZE + 5}" in second
    assert 'href="/runs?status=cancelled"' in second and "pager-older" not in second
    # a page past the end (an old link) says so and links to the last page; a malformed number is page 1
    past = client.get("/runs", params={"status": "cancelled", "page": "9"}).text
    assert "Page 9 is past the last page (2)" in past and 'href="/runs?status=cancelled&amp;page=2"' in past
    for malformed in ("x", "0", "-1", "1e3"):
        assert f"Runs 1–{PAGE_SIZE} of" in client.get("/runs", params={"page": malformed}).text


def test_plans_list_pages_link_to_the_list_itself(sqlite_client: TestClient) -> None:
    from api.ui.paging import PAGE_SIZE, Pager

    pager = Pager(path="/", page=2, shown=3, total=PAGE_SIZE + 3, filters={})
    assert (pager.first, pager.last, pager.newer_href, pager.older_href) == (PAGE_SIZE + 1, PAGE_SIZE + 3, "/", None)
    assert Pager(path="/", page=1, shown=PAGE_SIZE, total=PAGE_SIZE + 3, filters={}).older_href == "/?page=2"
    assert sqlite_client.get("/", params={"page": "2"}).status_code == 200
