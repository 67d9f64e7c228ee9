"""A private ``redis-server`` killed and restarted while a fine-tune runs: the run is neither lost nor
duplicated. The running run does not need the broker (its progress, lease and result live in the
database), a run posted while the broker is down is a 503 that stores nothing, and once Redis is back
the same worker takes new runs again."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from storage.settings import Settings
from tests.processes import free_port
from tests.workers.test_runs_end_to_end import (
    SHORT_LEASES,
    Worker,
    events_of,
    measurements_of,
    post_run,
    setup_task,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]


class PrivateRedis:
    """A throw-away ``redis-server`` on its own port, without persistence (a restart starts empty)."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.timeout(300)
def test_a_run_survives_its_broker_dying_and_coming_back(
    private_redis: PrivateRedis, tmp_path: Path, tiny_model_dir: Path
) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path}/tunecast.db",
        broker_url=f"redis://127.0.0.1:{private_redis.port}/0",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = setup_task(client)
        worker = Worker(settings, tmp_path / "worker.log", env=SHORT_LEASES)
        try:
            run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": 600})
            wait_for(client, run["id"], worker, until=lambda r: r["progress"].get("step", 0) >= 50)
            private_redis.kill()
            refused = post_run_raw(client, task, tiny_model_dir, key="while-down")
            assert refused.status_code == 503 and refused.headers["retry-after"]
            time.sleep(2)
            private_redis.start()  # empty: the running run's message is gone with the old server
            done = wait_for(
                client, run["id"], worker, until=lambda r: r["status"] not in {"queued", "running"}, timeout_s=240
            )
            after = post_run_raw(client, task, tiny_model_dir, key="while-down")  # the key was never bound
            assert after.status_code == 202, after.text
            later = wait_for(
                client,
                after.json()["id"],
                worker,
                until=lambda r: r["status"] not in {"queued", "running"},
                timeout_s=120,
            )
        finally:
            worker.stop()
        assert done["status"] == "succeeded" and done["attempts"] == 1, (done, worker.tail())
        assert len(measurements_of(client, run["id"])) == 1
        assert [kind for kind, data in events_of(client, run["id"]) if data.get("status") == "succeeded"] == ["status"]
        assert later["status"] == "succeeded", worker.tail()
        assert client.get("/v1/runs").json()["total"] == 2  # the refused one stored nothing


def post_run_raw(client: TestClient, task: str, model_dir: Path, *, key: str) -> httpx.Response:
    candidate = {"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "lora", "rank": 4}}
    body = {"kind": "finetune", "task": task, "candidate": candidate, "options": {"steps": 5}}
    return client.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
