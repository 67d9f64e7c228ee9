"""/v1/measurements: imported measurements in, filtered pages out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def measurement(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "sst2",
        "candidate": {"model": "llama-2-7b", "method": {"name": "lora", "rank": 8}},
        "accuracy": 0.91,
        "gpu_hours": 1.5,
        "peak_memory_bytes": 20_000_000_000,
        "source": "import:Hu et al. 2021, Table 2",
    }
    body.update(overrides)
    return body


def test_post_measurements_and_list_them_by_task_and_model(client: TestClient) -> None:
    response = client.post(
        "/v1/measurements",
        json=[
            measurement(),
            measurement(task="mnli", accuracy=0.8),
            measurement(candidate={"model": {"id": "m2"}, "method": "full"}),
        ],
    )
    assert response.status_code == 201, response.text
    stored = response.json()
    assert [m["model"] for m in stored] == ["llama-2-7b", "llama-2-7b", "m2"]
    assert [m["method"] for m in stored] == ["lora", "lora", "full"]
    assert stored[0]["run"] is None and stored[0]["source"].startswith("import:")
    page = client.get("/v1/measurements", params={"task": "sst2"}).json()
    assert page["total"] == 2
    page = client.get("/v1/measurements", params={"task": "sst2", "model": "llama-2-7b"}).json()
    assert page["total"] == 1 and page["items"][0]["accuracy"] == 0.91
    assert client.get("/v1/measurements", params={"limit": 1}).json()["total"] == 3


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (measurement(source="run:abc"), "#/0/source"),
        (measurement(accuracy=1.5), "#/0/accuracy"),
        (measurement(candidate={"method": "lora"}), "#/0/candidate"),
    ],
)
def test_post_measurement_rejects_bad_input(client: TestClient, body: dict[str, Any], pointer: str) -> None:
    response = client.post("/v1/measurements", json=[body])
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == pointer


def test_post_measurements_needs_at_least_one(client: TestClient) -> None:
    assert client.post("/v1/measurements", json=[]).status_code == 422
