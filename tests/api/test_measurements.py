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


CSV = (
    "task,model,method,method_config,training,accuracy,eval_examples,source\n"
    'sst2,llama-2-7b,lora,"{""rank"": 8}","{""epochs"": 2}",0.91,872,"import:Hu et al. 2021, Table 2"\n'
    "mnli,llama-2-7b,full,,,0.8,,import:a paper\n"
)


def test_post_measurements_as_csv(client: TestClient) -> None:
    response = client.post("/v1/measurements", content=CSV, headers={"Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    first, second = response.json()
    assert (first["task"], first["model"], first["method"], first["accuracy"]) == ("sst2", "llama-2-7b", "lora", 0.91)
    assert first["candidate"]["method"] == {"name": "lora", "rank": 8}
    assert first["candidate"]["training"] == {"epochs": 2} and first["eval_examples"] == 872
    assert first["source"] == "import:Hu et al. 2021, Table 2"
    assert second["eval_examples"] is None and second["method"] == "full"
    assert client.get("/v1/measurements", params={"task": "sst2"}).json()["items"][0]["eval_examples"] == 872


@pytest.mark.parametrize(
    ("csv_text", "pointer", "says"),
    [
        ("task,model,method,colour,source\nt,m,lora,red,import:x y\n", "#/colour", "unknown column"),
        ("task,model,method\nt,m,lora\n", "#/source", "required column"),
        ("task,source,accuracy\nt,import:x y,0.5\n", "#/candidate", "'model' and 'method'"),
        ("task,model,method,accuracy,source\nt,m,lora,high,import:x y\n", "#/0/accuracy", "line 2"),
        ("task,model,method,method_config,source\nt,m,lora,{rank,import:x y\n", "#/0/method_config", "JSON"),
        ("task,model,method,accuracy,source\nt,m,lora,0.5,import:x y\nt,m,lora,1.5,import:x y\n", "#/1/accuracy", ""),
        ("task,model,method,accuracy,source\nt,m,lora,0.5,run:abcdefg\n", "#/0/source", "import:"),
    ],
)
def test_csv_errors_name_the_row_and_column(client: TestClient, csv_text: str, pointer: str, says: str) -> None:
    response = client.post("/v1/measurements", content=csv_text, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["pointer"] == pointer and says in error["detail"], error


def test_eval_examples_must_be_positive(client: TestClient) -> None:
    response = client.post("/v1/measurements", json=[measurement(eval_examples=0)])
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "#/0/eval_examples"


def test_measurements_body_is_documented_as_json_or_csv(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/measurements"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    assert "eval_examples" in content["application/json"]["schema"]["items"]["properties"]


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"[{", "not valid JSON"), (b'{"task": "t"}', "got a JSON dict"), (b"\xff\xfe", "not valid JSON")],
)
def test_a_body_that_is_not_a_json_list_is_named(client: TestClient, content: bytes, says: str) -> None:
    response = client.post("/v1/measurements", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and says in response.json()["errors"][0]["detail"], response.text


def test_csv_that_is_not_utf8_is_named(client: TestClient) -> None:
    response = client.post("/v1/measurements", content=b"task,source\n\xff\n", headers={"Content-Type": "text/csv"})
    assert response.status_code == 422 and "UTF-8" in response.json()["errors"][0]["detail"]


def test_a_measurement_of_a_stored_task_is_found_by_its_id_and_its_name(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "sst2", "kind": "classification", "n_choices": 2}).json()
    body = [
        {
            "task": task["id"],
            "candidate": {"model": "llama-2-7b", "method": "lora"},
            "accuracy": 0.9,
            "source": "import:x",
        }
    ]
    stored = client.post("/v1/measurements", json=body).json()[0]
    assert (stored["task"], stored["task_id"]) == ("sst2", task["id"])
    for reference in (task["id"], "sst2"):
        found = client.get("/v1/measurements", params={"task": reference}).json()
        assert [m["id"] for m in found["items"]] == [stored["id"]], reference
    other = client.post("/v1/measurements", json=[{**body[0], "task": "not-a-stored-task"}]).json()[0]
    assert (other["task"], other["task_id"]) == ("not-a-stored-task", None)
