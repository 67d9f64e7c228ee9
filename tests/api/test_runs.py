"""/v1/runs without a worker: validation, idempotency, enqueue-after-commit, cancel and the SSE stream.

Runs that really execute are in ``tests/workers/test_runs_end_to_end.py`` (real worker, real Redis).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from storage.db import session_scope
from storage.models import PredictionRow, RunEventRow, RunRow, utcnow
from storage.repositories import runs as runs_repo
from storage.settings import Settings
from tests.factories import embedded_settings, tiny_llama_config
from tests.workers.conftest import classification_rows, generation_rows, jsonl


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """An hour's lease: the app's sweep of stranded runs (``api/run_sweep.py``) runs at start-up and then
    not during a test, so the runs stranded here by hand stay as a test leaves them."""
    return embedded_settings(tmp_path, database_url, max_request_bytes=256 * 1024, run_lease_s=3600.0)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model directory with only config.json: enough for routing; no worker loads it here."""
    directory = tmp_path / "tiny"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(tiny_llama_config()))
    return directory


def make_task(client: TestClient, rows: list[dict[str, Any]], kind: str) -> str:
    task = client.post("/v1/tasks", json={"name": "t", "kind": kind}).json()
    response = client.post("/v1/datasets", files={"file": ("d.jsonl", jsonl(rows))}, data={"task": task["id"]})
    assert response.status_code == 201, response.text
    return str(task["id"])


def run_body(task: str, model_dir: Path, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "finetune",
        "task": task,
        "candidate": {"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "lora", "rank": 4}},
        "options": {"steps": 3},
    }
    body.update(overrides)
    return body


def queued_messages(settings: Settings) -> list[str]:
    """Run ids waiting in the embedded broker (kombu's SQLAlchemy transport tables)."""
    path = settings.broker_url.split("///", 1)[1]
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as connection:
        payloads = [row[0] for row in connection.execute("SELECT payload FROM kombu_message WHERE visible = 1")]
    run_ids = []
    for payload in payloads:
        message = json.loads(payload)
        body = json.loads(__import__("base64").b64decode(message["body"]))
        run_ids.append(body[0][0])
    return run_ids


def test_post_run_commits_then_enqueues_its_id(client: TestClient, settings: Settings, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json=run_body(task, model_dir))
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "queued" and run["queue"] == "gpu" and run["attempts"] == 0
    assert run["task"] == task and run["dataset"] is not None
    assert run["predicted"]["peak_memory_bytes"] > 0 and run["predicted"]["source"]
    assert client.get(f"/v1/runs/{run['id']}").json()["status"] == "queued"
    if settings.broker_is_embedded:
        assert queued_messages(settings) == [run["id"]]


def test_probes_route_to_the_cpu_queue(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    icl = client.post(
        "/v1/runs",
        json=run_body(
            task,
            model_dir,
            kind="icl_probe",
            candidate={"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "icl", "shots": 2}},
        ),
    )
    proxy = client.post(
        "/v1/runs",
        json=run_body(
            task,
            model_dir,
            kind="proxy_probe",
            candidate={"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "linear_probe"}},
        ),
    )
    assert (icl.status_code, proxy.status_code) == (202, 202)
    assert icl.json()["queue"] == proxy.json()["queue"] == "cpu"


@pytest.mark.parametrize("via", ["header", "field"])
def test_repeated_post_with_the_same_idempotency_key_returns_the_same_run(
    client: TestClient, settings: Settings, model_dir: Path, via: str
) -> None:
    task = make_task(client, classification_rows(), "classification")
    body = run_body(task, model_dir)
    headers = {}
    if via == "header":
        headers["Idempotency-Key"] = "key-1"
    else:
        body["idempotency_key"] = "key-1"
    first = client.post("/v1/runs", json=body, headers=headers)
    second = client.post("/v1/runs", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["idempotency_key"] == "key-1"
    assert queued_messages(settings) == [first.json()["id"]]


def test_idempotency_key_reused_for_a_different_run_is_a_conflict(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    headers = {"Idempotency-Key": "key-2"}
    assert client.post("/v1/runs", json=run_body(task, model_dir), headers=headers).status_code == 202
    other = run_body(task, model_dir, options={"steps": 99})
    response = client.post("/v1/runs", json=other, headers=headers)
    assert response.status_code == 409
    assert response.json()["errors"][0]["pointer"] == "#/idempotency_key"
    assert "options differs" in response.json()["detail"]


def test_cancel_a_queued_run_and_stream_its_events(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    run = client.post("/v1/runs", json=run_body(task, model_dir)).json()
    cancelled = client.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_requested"] is True
    assert client.post(f"/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"  # idempotent
    with client.stream("GET", f"/v1/runs/{run['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("id:") or block.startswith("event:")]
    statuses = [json.loads(block.split("data: ", 1)[1])["status"] for block in events if "event: status" in block]
    assert statuses == ["queued", "cancelled"]
    assert events[-1].startswith("event: end")
    resumed = client.get(f"/v1/runs/{run['id']}/events", headers={"Last-Event-ID": events[0].split("\n")[0][4:]})
    assert "queued" not in resumed.text and "cancelled" in resumed.text


def test_cancel_a_stranded_run_at_once_and_a_held_one_at_its_next_step(
    client: TestClient, settings: Settings, model_dir: Path
) -> None:
    """Running with a lapsed lease (its worker was SIGKILLed, none took it over): nothing would ever act on
    the cancel flag, so the cancel ends it. A run whose worker renews its lease only gets the flag."""
    task = make_task(client, classification_rows(), "classification")
    stranded, held = (client.post("/v1/runs", json=run_body(task, model_dir)).json()["id"] for _ in range(2))
    with session_scope(settings.database_url) as session:
        for run_id in (stranded, held):
            lease = runs_repo.Lease(token=run_id, seconds=30.0)
            runs_repo.begin_delivery(session=session, run_id=run_id, worker="w@box", max_deliveries=3, lease=lease)
        past = utcnow() - timedelta(seconds=90)
        session.execute(update(RunRow).where(RunRow.id == stranded).values(lease_expires_at=past))
        session.commit()
    cancelled = client.post(f"/v1/runs/{stranded}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    flagged = client.post(f"/v1/runs/{held}/cancel").json()
    assert flagged["status"] == "running" and flagged["cancel_requested"] is True
    events = client.get(f"/v1/runs/{stranded}/events").text
    assert "cancelled while stranded: its lease (held by w@box) ran out 90 s ago" in events


@pytest.mark.parametrize("path", ["/v1/runs/nope", "/v1/runs/nope/events"])
def test_read_run_not_found(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["errors"] == [{"parameter": "run_id", "detail": "unknown run 'nope'"}]


def test_cancel_run_not_found(client: TestClient) -> None:
    assert client.post("/v1/runs/nope/cancel").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "pointer", "needle"),
    [
        ({"kind": "passuntil_probe"}, 422, "#/kind", "needs a generation task"),
        (
            {"candidate": {"model": {"id": "m", "path": "/etc/passwd"}, "method": {"name": "lora"}}},
            422,
            "#/candidate/model/path",
            "outside the model roots",
        ),
        (
            {"candidate": {"model": {"id": "m", "path": "models/m"}, "method": {"name": "lora"}}},
            422,
            "#/candidate/model/path",
            "must be an absolute path",
        ),
        (
            {"candidate": {"model": "m", "method": {"name": "lora"}, "training": {"optimizer": "sgd"}}},
            422,
            "#/candidate/training/optimizer",
            "workers train with AdamW",
        ),
        (
            {"candidate": {"model": {"id": "m", "path": "/x"}, "method": {"name": "icl"}}},
            422,
            "#/candidate/method/name",
            "does not train",
        ),
        (
            {"candidate": {"model": {"id": "m", "path": "/x"}, "method": {"name": "lora", "rank": 0}}},
            422,
            "#/candidate/method/rank",
            "greater than or equal to 1",
        ),
        (
            {"candidate": {"model": {"id": "m", "path": "/x"}, "method": {"name": "nope"}}},
            422,
            "#/candidate/method/name",
            "unknown method",
        ),
        ({"task": "missing"}, 404, "#/task", "task 'missing'"),
        ({"dataset": "missing"}, 404, "#/dataset", "dataset 'missing'"),
        ({"prediction": "missing"}, 404, "#/prediction", "prediction 'missing'"),
        ({"plan": "missing"}, 404, "#/plan", "plan 'missing'"),
        ({"options": {"steps": 0}}, 422, "#/options/steps", ""),
    ],
)
def test_post_run_rejects_bad_input(
    client: TestClient, model_dir: Path, change: dict[str, Any], status: int, pointer: str, needle: str
) -> None:
    task = make_task(client, classification_rows(), "classification")
    response = client.post("/v1/runs", json={**run_body(task, model_dir), **change})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == pointer
    assert needle in response.json()["detail"]


def test_post_run_for_a_task_without_dataset(client: TestClient, model_dir: Path) -> None:
    task = client.post("/v1/tasks", json={"name": "t", "kind": "classification"}).json()
    response = client.post("/v1/runs", json=run_body(task["id"], model_dir))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/task"
    assert "has no dataset" in response.json()["detail"]


def test_passuntil_probe_queues_for_a_generation_task(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, generation_rows(), "generation")
    body = run_body(task, model_dir, kind="passuntil_probe", options={"passuntil_r": 1, "passuntil_k_max": 8})
    body["candidate"]["method"] = {"name": "zero_shot"}
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["queue"] == "cpu" and response.json()["options"]["passuntil_k_max"] == 8


def test_proxy_probe_needs_a_classification_task(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, generation_rows(), "generation")
    response = client.post(
        "/v1/runs",
        json=run_body(
            task,
            model_dir,
            kind="proxy_probe",
            candidate={"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "linear_probe"}},
        ),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/kind"


def test_a_run_links_the_prediction_it_verifies(client: TestClient, settings: Settings, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    with session_scope(settings.database_url) as session:
        prediction = PredictionRow(candidate_key="k", candidate={}, tier="prior", predictor="p", cost={})
        session.add(prediction)
        session.commit()
        prediction_id = prediction.id
    run = client.post("/v1/runs", json=run_body(task, model_dir, prediction=prediction_id)).json()
    assert run["prediction"] == prediction_id


def test_broker_down_is_a_503_that_stores_nothing_and_leaves_the_key_unused(tmp_path: Path, model_dir: Path) -> None:
    from api.app import create_app

    settings = Settings(
        environment="test",
        data_dir=tmp_path / "d",
        database_url=f"sqlite:///{tmp_path}/t.db",
        broker_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = make_task(client, classification_rows(), "classification")
        response = client.post("/v1/runs", json=run_body(task, model_dir), headers={"Idempotency-Key": "k-1"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
        detail = response.json()["detail"]
        assert "broker" in detail and "nothing was stored" in detail
        assert "127.0.0.1" not in detail and ":1" not in detail  # no internal address
        assert client.get("/v1/runs").json()["total"] == 0
        with session_scope(settings.database_url) as session:
            assert session.scalars(select(RunEventRow)).first() is None
    # the same key with another request is not a conflict: it was never bound
    settings = settings.model_copy(update={"broker_url": f"sqla+sqlite:///{tmp_path}/broker.db"})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        other = run_body(task, model_dir, options={"steps": 5})
        accepted = client.post("/v1/runs", json=other, headers={"Idempotency-Key": "k-1"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "queued" and accepted.json()["options"]["steps"] == 5


def test_a_run_asking_for_more_training_examples_than_the_dataset_has_is_refused(
    client: TestClient, model_dir: Path
) -> None:
    task = make_task(client, classification_rows(40), "classification")  # 32 train, 8 test
    body = run_body(task, model_dir)
    body["candidate"]["training"] = {"train_examples": 5000}
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/candidate/training/train_examples"
    assert "has 32 training examples, fewer than the 5000 asked for" in response.json()["detail"]


def test_runs_are_listed_newest_first_and_filtered(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    finetune = client.post("/v1/runs", json=run_body(task, model_dir)).json()
    probe = client.post(
        "/v1/runs",
        json=run_body(
            task,
            model_dir,
            kind="icl_probe",
            candidate={"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "icl", "shots": 2}},
        ),
    ).json()
    client.post(f"/v1/runs/{probe['id']}/cancel")
    listed = client.get("/v1/runs").json()
    assert listed["total"] == 2 and [r["id"] for r in listed["items"]] == [probe["id"], finetune["id"]]
    assert [r["id"] for r in client.get("/v1/runs", params={"kind": "finetune"}).json()["items"]] == [finetune["id"]]
    assert [r["id"] for r in client.get("/v1/runs", params={"status": "cancelled"}).json()["items"]] == [probe["id"]]
    assert client.get("/v1/runs", params={"task": "t"}).json()["total"] == 2  # by the task's name too
    assert client.get("/v1/runs", params={"status": "lost"}).status_code == 422
    missing = client.get("/v1/runs", params={"task": "no-such-task"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["parameter"] == "task"


def test_a_gguf_path_is_checked_and_priced_from_its_header(
    client: TestClient, settings: Settings, model_root: Path, tmp_path: Path
) -> None:
    from tests.storage.test_gguf_header import llama_metadata, write_gguf

    task = make_task(client, classification_rows(), "classification")
    weights = write_gguf(model_root / f"{tmp_path.name}.gguf", llama_metadata(), ["token_embd.weight"])
    own = run_body(
        task,
        model_dir=weights,
        candidate={"model": {"id": "my-gguf", "path": str(weights)}, "method": {"name": "lora", "rank": 4}},
    )
    accepted = client.post("/v1/runs", json=own)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["predicted"]["peak_memory_bytes"] > 0  # priced from the header, not skipped
    claimed = {"model": {"id": "smollm2-135m-instruct", "path": str(weights)}, "method": {"name": "lora", "rank": 4}}
    refused = client.post("/v1/runs", json=run_body(task, model_dir=weights, candidate=claimed))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "#/candidate/model/path"
    assert "are not 'smollm2-135m-instruct'" in refused.json()["detail"]


def test_runs_are_filtered_by_method_and_model(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    finetune = client.post("/v1/runs", json=run_body(task, model_dir)).json()
    icl = {"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "icl", "shots": 2}}
    probe = client.post("/v1/runs", json=run_body(task, model_dir, kind="icl_probe", candidate=icl)).json()
    ids = lambda **params: [r["id"] for r in client.get("/v1/runs", params=params).json()["items"]]  # noqa: E731
    assert ids(method="lora") == [finetune["id"]] and ids(method="icl") == [probe["id"]]
    assert ids(model="tiny") == [probe["id"], finetune["id"]] and ids(model="other") == []
    assert ids(model="tiny", method="icl", status="queued") == [probe["id"]]


def test_a_queued_run_knows_its_place_in_its_queue(client: TestClient, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    first, second = (
        client.post("/v1/runs", json=run_body(task, model_dir, options={"steps": s})).json() for s in (1, 2)
    )
    icl = {"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "icl", "shots": 2}}
    probe = client.post("/v1/runs", json=run_body(task, model_dir, kind="icl_probe", candidate=icl)).json()
    assert (first["queue_position"], second["queue_position"]) == (1, 2)
    assert probe["queue"] == "cpu" and probe["queue_position"] == 1  # another queue: nothing ahead of it
    cancelled = client.post(f"/v1/runs/{first['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["queue_position"] is None
    assert client.get(f"/v1/runs/{second['id']}").json()["queue_position"] == 1


def test_a_run_shows_the_accuracy_interval_it_verifies(client: TestClient, settings: Settings, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    with session_scope(settings.database_url) as session:
        prediction = PredictionRow(
            candidate_key="k",
            candidate={},
            tier="probe",
            predictor="cosmos.icl_shots",
            cost={},
            accuracy_mean=0.62,
            accuracy_lower=0.55,
            accuracy_upper=0.7,
        )
        session.add(prediction)
        session.commit()
        prediction_id = prediction.id
    run = client.post("/v1/runs", json=run_body(task, model_dir, prediction=prediction_id)).json()
    assert run["predicted_accuracy"] == {
        "mean": 0.62,
        "lower": 0.55,
        "upper": 0.7,
        "tier": "probe",
        "predictor": "cosmos.icl_shots",
    }
    assert client.post("/v1/runs", json=run_body(task, model_dir)).json()["predicted_accuracy"] is None


def test_a_run_carries_the_label_its_plan_row_has(client: TestClient) -> None:
    task = make_task(client, classification_rows(), "classification")
    grid = {
        "models": ["llama-3.2-1b"],
        "methods": [{"name": "lora", "rank": 16, "alpha": 16}, {"name": "icl", "shots": 2}],
        "hardware": [{"gpu": "H100-SXM", "count": 1}],
    }
    plan = client.post("/v1/plans", json={"task": task, "grid": grid})
    assert plan.status_code == 201, plan.text
    rows = plan.json()["candidates"]
    lora = next(row for row in rows if row["candidate"]["method"]["name"] == "lora")
    body = {"kind": "finetune", "task": task, "candidate": lora["candidate"], "options": {"steps": 3}}
    run = client.post("/v1/runs", json=body)
    assert run.status_code == 202, run.text
    assert run.json()["label"] == lora["label"] == "llama-3.2-1b · lora r16 alpha 16 · 1× H100-SXM"
    listed = client.get("/v1/runs").json()["items"]
    assert [item["label"] for item in listed] == [lora["label"]]
