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
