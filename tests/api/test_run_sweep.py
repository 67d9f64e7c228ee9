"""The API's sweep of stranded runs (``api/run_sweep.py``), on both backends, without a worker: a run whose
lease lapsed goes back to ``queued`` once, however many sweeps race for it, and says it waits for a worker.

With real processes (a SIGKILLed worker, two API processes, the worker that comes later) it is in
``tests/workers/test_stranded_runs.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from api.run_sweep import RunSweep
from storage.db import session_scope
from storage.models import RunEventRow, RunRow, utcnow
from storage.repositories import runs as runs_repo
from storage.settings import Settings
from tests.api.test_runs import make_task, queued_messages, run_body
from tests.api.test_runs import model_dir as model_dir  # a fixture, shared
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """An hour's lease: the app's own sweep runs at start-up and then not again during a test, so only the
    sweeps a test starts act on the runs it strands."""
    return embedded_settings(tmp_path, database_url, run_lease_s=3600.0)


def strand(settings: Settings, run_id: str, *, lapsed_s: float = 90.0) -> None:
    """As if a worker took the run and was SIGKILLed ``lapsed_s`` ago (a negative value: it still renews)."""
    with session_scope(settings.database_url) as session:
        lease = runs_repo.Lease(token=f"lease-{run_id}", seconds=30.0)
        runs_repo.begin_delivery(session=session, run_id=run_id, worker="w@box", max_deliveries=3, lease=lease)
        expires = utcnow() - timedelta(seconds=lapsed_s)
        session.execute(update(RunRow).where(RunRow.id == run_id).values(lease_expires_at=expires))
        session.commit()


def requeued_events(settings: Settings, run_id: str) -> list[dict[str, object]]:
    with session_scope(settings.database_url) as session:
        events = session.scalars(select(RunEventRow.data).where(RunEventRow.run_id == run_id)).all()
    return [data for data in events if data.get("requeued")]


def test_sweeps_racing_for_a_stranded_run_requeue_and_enqueue_it_once(
    client: TestClient, settings: Settings, model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Four API processes' sweeps at the same instant: one conditional UPDATE wins, one message is sent."""
    task = make_task(client, classification_rows(), "classification")
    run_id = client.post("/v1/runs", json=run_body(task, model_dir)).json()["id"]
    strand(settings, run_id)
    sweeps = [RunSweep(settings) for _ in range(4)]
    barrier = threading.Barrier(len(sweeps))
    counts: list[int] = []

    def race(sweep: RunSweep) -> None:
        barrier.wait()
        counts.append(sweep.sweep_once())

    threads = [threading.Thread(target=race, args=(sweep,)) for sweep in sweeps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    failures = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert sorted(counts) == [0, 0, 0, 1] and not failures  # none failed: the others lost the claim
    assert queued_messages(settings).count(run_id) == 2  # the POST's message and the re-queue's, no third
    [event] = requeued_events(settings, run_id)
    assert "its lease (held by w@box) ran out" in str(event["requeued"])
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "queued" and run["waiting_for"]["live_workers"] == 0
    assert "no live worker consumes the 'gpu' queue" in run["waiting_for"]["message"]


def test_a_run_whose_lease_still_holds_is_left_running(client: TestClient, settings: Settings, model_dir: Path) -> None:
    task = make_task(client, classification_rows(), "classification")
    run_id = client.post("/v1/runs", json=run_body(task, model_dir)).json()["id"]
    strand(settings, run_id, lapsed_s=-30.0)
    assert RunSweep(settings).sweep_once() == 0
    assert client.get(f"/v1/runs/{run_id}").json()["status"] == "running" and not requeued_events(settings, run_id)


def test_an_api_process_sweeps_as_it_starts(client: TestClient, settings: Settings, model_dir: Path) -> None:
    """Everything was down (API and workers): the API that comes back puts the stranded run back at once."""
    task = make_task(client, classification_rows(), "classification")
    run_id = client.post("/v1/runs", json=run_body(task, model_dir)).json()["id"]
    strand(settings, run_id)
    with TestClient(create_app(settings, prepare=False), raise_server_exceptions=False) as restarted:
        for _ in range(100):
            if requeued_events(settings, run_id):
                break
            time.sleep(0.1)
        assert restarted.get(f"/v1/runs/{run_id}").json()["status"] == "queued"
    assert len(requeued_events(settings, run_id)) == 1


def test_a_failing_sweep_is_logged_and_the_next_one_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = embedded_settings(tmp_path, f"sqlite:///{tmp_path / 'absent' / 'tunecast.db'}")
    with caplog.at_level(logging.ERROR, logger="tunecast.api"):
        assert RunSweep(missing).sweep_once() == 0
    assert "the sweep of stranded runs failed" in caplog.text
