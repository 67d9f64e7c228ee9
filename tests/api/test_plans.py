"""POST/GET /v1/plans: costed, forecast candidates, a recommendation under budget, re-prediction."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from storage.db import session_scope
from storage.repositories.measurements import create_measurements
from storage.settings import Settings

TASK = {"name": "support-intent", "kind": "classification", "n_choices": 4, "train_examples": 5000}


def grid(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": TASK,
        "grid": {
            "models": ["qwen2.5-0.5b", "llama-3.1-8b"],
            "methods": [{"name": "lora", "rank": 16}, {"name": "icl", "shots": 8}, {"name": "zero_shot"}],
            "hardware": [{"gpu": "H100-SXM", "count": 1}],
            "training": [{"micro_batch_size": 4, "seq_len": 512, "epochs": 2}],
        },
    }
    body.update(overrides)
    return body


def test_create_and_read_a_plan(client: TestClient) -> None:
    response = client.post("/v1/plans", json=grid())
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["n_candidates"] == 6 and len(plan["candidates"]) == 6
    for row in plan["candidates"]:
        accuracy = row["accuracy"]
        assert accuracy["tier"] in {"prior", "probe", "measured"} and accuracy["predictor"]
        assert 0 <= accuracy["lower"] <= accuracy["mean"] <= accuracy["upper"] <= 1
        assert row["total_usd"] >= 0
    recommended = plan["recommendation"]
    best = max(r["accuracy"]["mean"] for r in plan["candidates"] if r["fits"])
    assert recommended["accuracy"]["mean"] == best
    assert recommended["expected_regret"] >= 0
    frontier_costs = [plan["candidates"][i]["total_usd"] for i in plan["frontier"]]
    assert frontier_costs == sorted(frontier_costs)
    assert plan["exhaustive_cost_usd"] > 0
    again = client.get(f"/v1/plans/{plan['id']}").json()
    assert again["recommendation"]["index"] == recommended["index"]
    listed = client.get("/v1/plans").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == plan["id"]


def test_budget_moves_the_recommendation(client: TestClient) -> None:
    open_plan = client.post("/v1/plans", json=grid()).json()
    cheapest = min(r["total_usd"] for r in open_plan["candidates"])
    tight = client.post("/v1/plans", json=grid(budget={"max_usd": cheapest * 1.0001})).json()
    assert tight["recommendation"]["total_usd"] <= cheapest * 1.0001


def test_budget_below_every_candidate_says_so(client: TestClient) -> None:
    response = client.post("/v1/plans", json=grid(budget={"max_usd": 1e-9}))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["pointer"] == "#/budget/max_usd"
    assert "cheapest costs" in body["detail"]


def test_unknown_model_in_grid(client: TestClient) -> None:
    body = grid()
    body["grid"]["models"] = ["gpt-7"]
    response = client.post("/v1/plans", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/grid/models/0"


def test_candidates_and_grid_are_exclusive(client: TestClient) -> None:
    both = grid(candidates=[{"model": "qwen2.5-0.5b", "method": {"name": "zero_shot"}}])
    assert client.post("/v1/plans", json=both).status_code == 422
    neither = {"task": TASK}
    assert "exactly one" in client.post("/v1/plans", json=neither).json()["detail"]


def test_empty_grid_is_rejected(client: TestClient) -> None:
    body = grid()
    body["grid"]["methods"] = []
    response = client.post("/v1/plans", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/grid/methods"


def test_plan_is_repredicted_when_a_measurement_arrives(client: TestClient, settings: Settings) -> None:
    plan = client.post("/v1/plans", json=grid()).json()
    target = next(r for r in plan["candidates"] if r["candidate"]["method"]["name"] == "zero_shot")
    assert target["accuracy"]["tier"] != "measured"
    with session_scope(settings.database_url) as session:
        create_measurements(
            session=session,
            values=[
                {
                    "task": TASK["name"],
                    "model_id": target["candidate"]["model"],
                    "method_name": "zero_shot",
                    "candidate": target["candidate"],
                    "accuracy": 0.4321,
                    "source": "import:test",
                }
            ],
        )
    updated = client.get(f"/v1/plans/{plan['id']}").json()
    row = next(r for r in updated["candidates"] if r["index"] == target["index"])
    assert row["accuracy"]["tier"] == "measured"
    assert row["accuracy"]["mean"] == 0.4321


def test_plan_with_a_stored_task(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "stored-task", "kind": "multiple_choice", "chance_accuracy": 0.25})
    assert task.status_code == 201, task.text
    plan = client.post("/v1/plans", json=grid(task=task.json()["id"]))
    assert plan.status_code == 201, plan.text
    assert plan.json()["task"]["name"] == "stored-task"
    missing = client.post("/v1/plans", json=grid(task="no-such-task"))
    assert missing.status_code == 404


def test_plan_with_an_inline_model(client: TestClient) -> None:
    from tests.factories import llama_config

    body = {
        "task": TASK,
        "candidates": [
            {"model": {"id": "my-llama", "architecture": llama_config()}, "method": {"name": "lora", "rank": 8}},
            {"model": "llama-2-7b", "method": {"name": "lora", "rank": 8}},
        ],
    }
    plan = client.post("/v1/plans", json=body)
    assert plan.status_code == 201, plan.text
    inline, catalog = plan.json()["candidates"]
    assert inline["cost"]["trainable_params"] == catalog["cost"]["trainable_params"]
    assert inline["accuracy"]["tier"] == "prior"


def test_every_listed_candidate_has_a_stored_prediction(client: TestClient, settings: Settings) -> None:
    from storage.models import PredictionRow

    plan = client.post("/v1/plans", json=grid()).json()
    ids = [row["prediction_id"] for row in plan["candidates"]]
    assert len(set(ids)) == len(ids) == plan["n_candidates"]
    assert plan["recommendation"]["prediction_id"] in ids
    with session_scope(settings.database_url) as session:
        stored = session.get(PredictionRow, ids[0])
        assert stored is not None and stored.plan_id == plan["id"]
        assert stored.accuracy_mean == plan["candidates"][0]["accuracy"]["mean"]
