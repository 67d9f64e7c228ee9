"""POST /v1/gate runs the same logic as the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def example(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((REPO_ROOT / "examples" / name).read_text())


def test_gate_pass(sqlite_client: TestClient) -> None:
    report = sqlite_client.post("/v1/gate", json=example("gate-pass.yaml")).json()
    assert report["passed"] is True and report["exit_code"] == 0
    assert report["chosen"]["accuracy"]["lower"] >= 0.65
    assert all(r["passed"] for r in report["requirements"])


def test_gate_fail_names_the_requirement_and_an_alternative(sqlite_client: TestClient) -> None:
    body = example("gate-pass.yaml")
    body["budget"] = {"max_usd": 0.01}
    report = sqlite_client.post("/v1/gate", json=body).json()
    assert report["passed"] is False and report["exit_code"] == 1
    failed = [r for r in report["requirements"] if not r["passed"]]
    assert failed[0]["name"] == "budget.max_usd" and "over the budget" in failed[0]["detail"]
    assert failed[0]["margin"] < 0
    assert report["alternatives"] and report["alternatives"][0]["why"].startswith("would pass with a budget of $")


def test_gate_fails_when_no_candidate_fits_its_hardware(sqlite_client: TestClient) -> None:
    body = example("gate-pass.yaml")
    body["grid"].update(models=["llama-3.1-8b"], methods=[{"name": "full"}], hardware=[{"gpu": "L4", "count": 1}])
    response = sqlite_client.post("/v1/gate", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["passed"] is False and report["exit_code"] == 1 and report["chosen"] is None
    assert "no candidate fits its hardware" in report["summary"]


def test_gate_invalid_body_is_422(sqlite_client: TestClient) -> None:
    body = example("gate-pass.yaml")
    body["requirements"]["confidence"] = 2
    response = sqlite_client.post("/v1/gate", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/requirements/confidence"
