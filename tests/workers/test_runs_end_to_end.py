"""Through the API, with the real Redis broker on 127.0.0.1:6379 and real Celery worker processes.

Upload a dataset, POST runs (finetune, icl_probe, proxy_probe), watch progress, see each complete with
exactly one measurement and the calibration change; SIGKILL a worker mid-run, after a checkpoint, and see
the run's lease lapse, another worker re-queue it and resume it from the checkpoint, once, on Redis and on
the embedded broker (which never redelivers); see Redis hand a running run's message to a second worker,
which its lease refuses; and a killed pool process, whose run its worker's main process recovers at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from storage.db import session_scope
from storage.models import PredictionRow
from storage.settings import Settings
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows, jsonl
from tests.workers.test_embedded_worker import redis_available

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_DBS = range(1, 13)  # 14 and 15 are used by other tests


CLAIM_KEY = "tunecast:test-claim"


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis database of our own for one test: claimed with SET NX (so test sessions running at the same
    time on this machine never share queues), emptied before use, flushed after."""
    if not redis_available():
        pytest.skip("no Redis server answers at 127.0.0.1:6379")
    token = uuid.uuid4().hex
    candidates = list(REDIS_DBS)
    random.shuffle(candidates)
    for db in candidates:
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        if client.set(CLAIM_KEY, token, nx=True, ex=900):
            for key in client.scan_iter():
                if key != CLAIM_KEY.encode():
                    client.delete(key)
            try:
                yield db
            finally:
                client.flushdb()
            return
    pytest.skip(f"every Redis database in {REDIS_DBS} is claimed by other test sessions")


@pytest.fixture
def redis_settings(tmp_path: Path, redis_db: int) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path}/tunecast.db",
        broker_url=f"redis://127.0.0.1:6379/{redis_db}",
    )


class Worker:
    """A ``celery worker`` process in its own session, so SIGKILL reaches its pool children too."""

    def __init__(
        self, settings: Settings, log_path: Path, app: str = "workers.app:celery_app", env: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "TUNECAST_DATA_DIR": str(settings.data_dir),
            "TUNECAST_DATABASE_URL": settings.database_url,
            "TUNECAST_BROKER_URL": settings.broker_url,
            "TUNECAST_ENVIRONMENT": "test",
            **(env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--queues",
            "gpu,cpu",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--hostname",
            f"e2e-{time.monotonic_ns()}@%h",
        ]
        if settings.broker_is_embedded:  # as ``api.cli.worker_command``: no broadcast on the embedded broker
            command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def client(redis_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(redis_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def worker(redis_settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    started = Worker(redis_settings, tmp_path / "worker.log")
    yield started
    started.stop()


def setup_task(client: TestClient) -> str:
    task = client.post("/v1/tasks", json={"name": "sentiment", "kind": "classification"}).json()
    dataset = client.post(
        "/v1/datasets", files={"file": ("d.jsonl", jsonl(classification_rows(40)))}, data={"task": task["id"]}
    )
    assert dataset.status_code == 201, dataset.text
    return str(task["id"])


def add_prediction(settings: Settings, method: str) -> str:
    with session_scope(settings.database_url) as session:
        prediction = PredictionRow(
            candidate_key=method,
            candidate={"method": {"name": method}},
            tier="probe",
            predictor="e2e",
            accuracy_mean=0.5,
            accuracy_lower=0.0,
            accuracy_upper=1.0,
            cost={},
        )
        session.add(prediction)
        session.commit()
        return prediction.id


def wait_for(client: TestClient, run_id: str, worker: Worker, *, until: Any, timeout_s: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if until(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached the state; last {run}\nworker log:\n{worker.tail()}")


def post_run(
    client: TestClient, task: str, model_dir: Path, kind: str, method: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body = {
        "kind": kind,
        "task": task,
        "candidate": {
            "model": {"id": "tiny", "path": str(model_dir)},
            "method": method,
            "training": {"micro_batch_size": 4, "seq_len": 64},
        },
        **extra,
    }
    response = client.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def measurements_of(client: TestClient, run_id: str) -> list[dict[str, Any]]:
    items = client.get("/v1/measurements", params={"limit": 1000}).json()["items"]
    return [m for m in items if m["run"] == run_id]


@pytest.mark.timeout(300)
def test_runs_complete_through_the_api_on_redis_with_a_real_worker(
    client: TestClient, redis_settings: Settings, worker: Worker, tiny_model_dir: Path
) -> None:
    task = setup_task(client)
    assert client.get("/v1/calibration").json()["overall"]["n"] == 0
    prediction = add_prediction(redis_settings, "lora")
    finetune = post_run(
        client,
        task,
        tiny_model_dir,
        "finetune",
        {"name": "lora", "rank": 4},
        options={"steps": 40},
        prediction=prediction,
        idempotency_key="e2e-finetune",
    )
    again = post_run(
        client,
        task,
        tiny_model_dir,
        "finetune",
        {"name": "lora", "rank": 4},
        options={"steps": 40},
        prediction=prediction,
        idempotency_key="e2e-finetune",
    )
    assert again["id"] == finetune["id"] and finetune["queue"] == "gpu"
    icl = post_run(client, task, tiny_model_dir, "icl_probe", {"name": "rag_icl", "shots": 2})
    proxy = post_run(client, task, tiny_model_dir, "proxy_probe", {"name": "linear_probe"})

    # A tiny run can finish between two polls, so progress is checked here when caught live and,
    # always, in the event stream below.
    seen = wait_for(
        client,
        finetune["id"],
        worker,
        until=lambda r: (r["status"] == "running" and r["progress"].get("step")) or r["status"] == "succeeded",
    )
    assert seen["progress"]["total"] == 40 and seen["attempts"] == 1
    done = wait_for(client, finetune["id"], worker, until=lambda r: r["status"] not in {"queued", "running"})
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["steps"] == 40 and done["progress"]["step"] == 40
    assert done["result"]["worker_hardware"]["device"] == "cpu"
    measured = measurements_of(client, finetune["id"])
    assert len(measured) == 1 and measured[0]["source"] == f"run:{finetune['id']}"
    assert (measured[0]["task"], measured[0]["task_id"], measured[0]["method"]) == ("sentiment", task, "lora")

    calibration = client.get("/v1/calibration").json()
    assert calibration["overall"]["n"] == 1
    assert calibration["groups"][0]["method"] == "lora" and calibration["groups"][0]["interval_coverage"] == 1.0
    assert calibration["groups"][0]["accuracy_mae"] == pytest.approx(abs(0.5 - done["result"]["accuracy"]))

    with client.stream("GET", f"/v1/runs/{finetune['id']}/events") as stream:
        text = "".join(stream.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("id:")]
    kinds = [b.split("\n")[1].removeprefix("event: ") for b in blocks]
    data = [json.loads(b.split("data: ", 1)[1]) for b in blocks]
    assert kinds[0] == "status" and data[0]["status"] == "queued" and data[-1]["status"] == "succeeded"
    steps = [d["step"] for k, d in zip(kinds, data, strict=True) if k == "progress"]
    assert steps and steps[-1] == 40 and steps == sorted(steps) and len(steps) >= 2
    assert text.rstrip().endswith("event: end\ndata: {}")

    for probe in (icl, proxy):
        finished = wait_for(client, probe["id"], worker, until=lambda r: r["status"] not in {"queued", "running"})
        assert finished["status"] == "succeeded", finished["error"]
        assert 0.0 <= finished["result"]["accuracy"] <= 1.0
        assert len(measurements_of(client, probe["id"])) == 1
    assert client.get("/v1/measurements", params={"task": task}).json()["total"] == 3


LEASE_S, EVERY = 3, 100
SHORT_LEASES = {"TUNECAST_RUN_LEASE_S": str(LEASE_S), "TUNECAST_CHECKPOINT_EVERY_STEPS": str(EVERY)}


def events_of(client: TestClient, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's whole event stream, as (kind, data) pairs."""
    with client.stream("GET", f"/v1/runs/{run_id}/events") as stream:
        text = "".join(stream.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("id:")]
    return [(b.split("\n")[1].removeprefix("event: "), json.loads(b.split("data: ", 1)[1])) for b in blocks]


def checkpoint_step(settings: Settings, run_id: str) -> int:
    import torch

    path = settings.data_dir / "checkpoints" / f"{run_id}.pt"
    return int(torch.load(path, weights_only=True)["step"]) if path.exists() else 0


def assert_resumed_once(client: TestClient, run_id: str, *, checkpointed: int, killed_at: int) -> dict[str, Any]:
    """Succeeded on its second delivery, from the checkpoint, with one measurement; progress never went back."""
    done: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["result"]["resumed_from_step"] == checkpointed
    assert len(measurements_of(client, run_id)) == 1
    events = events_of(client, run_id)
    assert any("ran out" in str(data.get("requeued", "")) for kind, data in events)  # the lease lapsed
    resumed = next(i for i, (_, data) in enumerate(events) if data.get("resumed_from_step") == checkpointed)
    steps = [data["step"] for kind, data in events if kind == "progress"]
    assert steps == sorted(steps) and steps[-1] == done["result"]["steps"]
    after = [data["step"] for kind, data in events[resumed:] if kind == "progress"]
    assert after and min(after) >= killed_at >= checkpointed  # not one report below where it had got to
    return done


@pytest.mark.timeout(300)
def test_a_sigkilled_workers_run_resumes_from_its_checkpoint_on_another_worker_once(
    client: TestClient, redis_settings: Settings, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Production's 12-hour visibility timeout: Redis will not hand the message out again, so the run's
    lease lapsing is what brings it back; the next worker resumes it from its checkpoint."""
    task = setup_task(client)
    steps = 1000
    first = Worker(redis_settings, tmp_path / "first.log", env=SHORT_LEASES)
    try:
        run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": steps})
        wait_for(client, run["id"], first, until=lambda r: r["progress"].get("step", 0) >= 2 * EVERY + EVERY // 2)
        first.kill()
        killed_at = time.monotonic()
    finally:
        first.stop()
    killed = client.get(f"/v1/runs/{run['id']}").json()
    checkpointed = checkpoint_step(redis_settings, run["id"])
    assert killed["status"] == "running" and killed["attempts"] == 1 and checkpointed >= 2 * EVERY
    assert checkpointed <= killed["progress"]["step"] < steps

    second = Worker(redis_settings, tmp_path / "second.log", env=SHORT_LEASES)
    try:
        wait_for(client, run["id"], second, until=lambda r: r["attempts"] == 2 or r["status"] == "queued")
        requeued_s = time.monotonic() - killed_at
        wait_for(client, run["id"], second, until=lambda r: r["status"] not in {"queued", "running"}, timeout_s=200)
        done_s = time.monotonic() - killed_at
    finally:
        second.stop()
    done = assert_resumed_once(client, run["id"], checkpointed=checkpointed, killed_at=killed["progress"]["step"])
    assert not (redis_settings.data_dir / "checkpoints" / f"{run['id']}.pt").exists()
    logging.getLogger(__name__).warning(  # the figures the issue asks for (pytest -o log_cli=true)
        f"killed at step {killed['progress']['step']} (checkpoint {checkpointed}); re-queued {requeued_s:.1f} s "
        f"and done {done_s:.1f} s after the kill (lease {LEASE_S} s); wall {done['result']['wall_s']:.1f} s"
    )
    assert requeued_s < 60


@pytest.mark.timeout(300)
def test_a_message_redis_hands_out_twice_trains_once(
    client: TestClient, redis_settings: Settings, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A 2-second visibility timeout, shorter than the run: Redis gives the running run's message to the
    other, idle worker, whose delivery the first one's live lease refuses."""
    task = setup_task(client)
    app, env = "tests.workers.redelivery_app:celery_app", {**SHORT_LEASES, "TEST_VISIBILITY_TIMEOUT_S": "2"}
    workers = [Worker(redis_settings, tmp_path / f"worker-{i}.log", app=app, env=env) for i in range(2)]
    try:
        deadline = time.monotonic() + 120
        while client.get("/v1/workers", params={"live": "true"}).json()["total"] < 2:
            assert time.monotonic() < deadline, workers[0].tail() + workers[1].tail()
            time.sleep(0.2)
        run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": 1200})
        done = wait_for(
            client, run["id"], workers[0], until=lambda r: r["status"] not in {"queued", "running"}, timeout_s=200
        )
    finally:
        for worker in workers:
            worker.stop()
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 1 and len(measurements_of(client, run["id"])) == 1
    events = events_of(client, run["id"])
    refused = [data for kind, data in events if data.get("refused_delivery")]
    assert refused and all(data["held_by"] == done["result"]["worker"] for data in refused)
    assert [data["status"] for kind, data in events if kind == "status"].count("succeeded") == 1
    steps = [data["step"] for kind, data in events if kind == "progress"]
    assert steps == sorted(steps) and done["result"]["resumed_from_step"] == 0


@pytest.mark.timeout(200)
def test_a_probe_completes_on_the_embedded_broker(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The default runtime (``make serve``): SQLite database, kombu's SQLAlchemy broker, one worker."""
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = setup_task(client)
        run = post_run(client, task, tiny_model_dir, "icl_probe", {"name": "icl", "shots": 1})
        worker = Worker(settings, tmp_path / "embedded.log")
        try:
            done = wait_for(client, run["id"], worker, until=lambda r: r["status"] not in {"queued", "running"})
        finally:
            worker.stop()
        assert done["status"] == "succeeded", done["error"]
        assert len(measurements_of(client, run["id"])) == 1


@pytest.mark.timeout(300)
def test_a_run_whose_whole_worker_dies_completes_on_the_embedded_broker(tmp_path: Path, tiny_model_dir: Path) -> None:
    """kombu's SQLAlchemy transport never redelivers a message whose worker died: the next worker sees the
    run's lease lapse, puts it back in the queue and resumes it from its checkpoint, once."""
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = setup_task(client)
        first = Worker(settings, tmp_path / "first.log", env=SHORT_LEASES)
        try:
            run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": 600})
            wait_for(client, run["id"], first, until=lambda r: r["progress"].get("step", 0) >= EVERY + EVERY // 2)
            first.kill()
        finally:
            first.stop()
        killed = client.get(f"/v1/runs/{run['id']}").json()
        checkpointed = checkpoint_step(settings, run["id"])
        assert killed["status"] == "running" and checkpointed >= EVERY
        second = Worker(settings, tmp_path / "second.log", env=SHORT_LEASES)
        try:
            wait_for(client, run["id"], second, until=lambda r: r["status"] not in {"queued", "running"}, timeout_s=240)
        finally:
            second.stop()
        done = assert_resumed_once(client, run["id"], checkpointed=checkpointed, killed_at=killed["progress"]["step"])
        assert done["result"]["steps"] == 600


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@pytest.mark.timeout(200)
def test_a_run_whose_pool_process_is_sigkilled_is_redelivered_at_once(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Only the pool child dies (as under the kernel's OOM killer): the worker's main process sees it and,
    with ``reject_on_worker_lost``, requeues the message at once — even on the embedded broker, which
    cannot recover a message whose whole worker died."""
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = setup_task(client)
        worker = Worker(settings, tmp_path / "worker.log")
        try:
            run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": 300})
            wait_for(client, run["id"], worker, until=lambda r: r["progress"].get("step", 0) >= 5)
            children = pool_children(worker.process.pid)
            assert len(children) == 1
            os.kill(children[0], signal.SIGKILL)
            done = wait_for(client, run["id"], worker, until=lambda r: r["status"] not in {"queued", "running"})
        finally:
            worker.stop()
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 2 and len(measurements_of(client, run["id"])) == 1
        events = events_of(client, run["id"])
        assert any(data.get("redelivered") for _, data in events)  # taken over at once, not after its lease
        assert not any(data.get("requeued") for _, data in events)
