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
