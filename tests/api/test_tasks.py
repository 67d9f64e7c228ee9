"""/v1/tasks: create and read (both database backends)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_task_and_read_it_back(client: TestClient) -> None:
    response = client.post("/v1/tasks", json={"name": "sentiment", "kind": "classification"})
    assert response.status_code == 201
    task = response.json()
    assert task["name"] == "sentiment" and task["kind"] == "classification"
    assert task["chance_accuracy"] is None and task["stats"] == {}
    again = client.get(f"/v1/tasks/{task['id']}")
    assert again.status_code == 200
    assert again.json() == task


def test_create_task_rejects_an_unknown_kind(client: TestClient) -> None:
    response = client.post("/v1/tasks", json={"name": "x", "kind": "regression"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "#/kind"


def test_read_task_not_found(client: TestClient) -> None:
    response = client.get("/v1/tasks/nope")
    assert response.status_code == 404
    assert response.json()["errors"] == [{"parameter": "task_id", "detail": "unknown task 'nope'"}]


def test_a_stored_task_has_the_fields_of_an_inline_one(client: TestClient) -> None:
    body = {"name": "intent", "kind": "classification", "n_choices": 4, "train_examples": 5000, "test_examples": 500}
    task = client.post("/v1/tasks", json=body).json()
    assert {k: task[k] for k in body} == body and task["chance_accuracy"] == 0.25
    assert client.get("/v1/tasks/intent").json() == task  # by its name too
    listed = client.get("/v1/tasks", params={"name": "intent"}).json()
    assert listed["total"] == 1 and listed["items"] == [task]


def test_a_generation_task_has_no_choices(client: TestClient) -> None:
    response = client.post("/v1/tasks", json={"name": "g", "kind": "generation", "n_choices": 4})
    assert response.status_code == 422
    assert "n_choices" in response.json()["detail"]


def test_a_dataset_fills_in_what_the_task_left_out(client: TestClient) -> None:
    from tests.workers.conftest import classification_rows, jsonl

    task = client.post("/v1/tasks", json={"name": "sentiment", "kind": "classification"}).json()
    response = client.post(
        "/v1/datasets", files={"file": ("d.jsonl", jsonl(classification_rows(40)))}, data={"task": task["id"]}
    )
    assert response.status_code == 201, response.text
    filled = client.get(f"/v1/tasks/{task['id']}").json()
    assert (filled["n_choices"], filled["train_examples"], filled["test_examples"]) == (2, 32, 8)
    assert filled["chance_accuracy"] == 0.5


def test_a_tiny_chance_level_does_not_break_reading_the_task(client: TestClient) -> None:
    """Found by schemathesis: n_choices derived as round(1 / chance_accuracy) was 6.7e14, past its bound,
    so the task was stored and every read of it (and every page of /v1/tasks) was a 500."""
    response = client.post("/v1/tasks", json={"name": "rare", "chance_accuracy": 1.5e-15})
    assert response.status_code == 201, response.text
    assert response.json()["n_choices"] is None and response.json()["chance_accuracy"] == 1.5e-15
    assert client.get("/v1/tasks").status_code == 200
    assert client.get("/v1/tasks/rare").json()["n_choices"] is None


def test_booleans_are_not_numbers(client: TestClient) -> None:
    """Found by schemathesis: pydantic's lax mode stored ``"train_examples": true`` as 1."""
    for field in ("n_choices", "chance_accuracy", "train_examples", "test_examples"):
        response = client.post("/v1/tasks", json={"name": "t", field: True})
        assert response.status_code == 422, (field, response.text)
        assert response.json()["errors"][0]["pointer"] == f"#/{field}"
    assert client.get("/v1/tasks").json()["total"] == 0
