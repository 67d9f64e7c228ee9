"""Fine-tune checkpoints and leases in-process (``execute_run`` without Celery): a delivery killed after a
checkpoint is re-queued when its lease lapses and the next one goes on from the checkpoint to the same
weights as a run never stopped; a delivery that lost its lease stops and records nothing; checkpoints of
ended runs go. The same with real worker processes and SIGKILL is in ``test_runs_end_to_end.py``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from storage.db import session_scope
from storage.migrate import upgrade
from storage.models import RunRow, utcnow
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.settings import Settings
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows
from tests.workers.test_run_kinds import load, make_run
from workers import finetune
from workers.checkpoints import checkpoint_path, load_checkpoint, prune_checkpoints, save_checkpoint
from workers.finetune import run_finetune
from workers.runtime import execute_run

EVERY = 5


class Killed(BaseException):
    """Stands for SIGKILL: not an ``Exception``, so nothing in the run catches it or records an end."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path, checkpoint_every_steps=EVERY)
    upgrade(settings.database_url)
    return settings


def kill_at(monkeypatch: pytest.MonkeyPatch, step_to_die: int) -> None:
    real_step = finetune._step

    def step(training: Any, loop: Any, step: int) -> None:
        if step == step_to_die:
            raise Killed
        real_step(training, loop, step)

    monkeypatch.setattr(finetune, "_step", step)


def lapse_and_requeue(settings: Settings, run_id: str) -> None:
    with session_scope(settings.database_url) as session:
        stale = utcnow() - timedelta(seconds=1)
        session.execute(update(RunRow).where(RunRow.id == run_id).values(lease_expires_at=stale))
        session.commit()
        assert [o.run_id for o in workers_repo.requeue_orphaned_runs(session=session)] == [run_id]


@pytest.mark.parametrize("method", [{"name": "lora", "rank": 4}, {"name": "full"}, {"name": "linear_probe"}])
def test_a_killed_finetune_resumes_from_its_checkpoint_to_the_same_weights(
    settings: Settings, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, method: dict[str, Any]
) -> None:
    options = {"steps": 12, "seed": 3}
    reference = make_run(settings, tiny_model_dir, classification_rows(), method=method, options=options)
    assert execute_run(None, reference, "finetune", run_finetune, settings=settings) == "succeeded"

    run_id = make_run(settings, tiny_model_dir, classification_rows(), method=method, options=options)
    with monkeypatch.context() as patch:
        kill_at(patch, 8)
        with pytest.raises(Killed):
            execute_run(None, run_id, "finetune", run_finetune, settings=settings)
    killed, _, _ = load(settings, run_id)
    saved = load_checkpoint(checkpoint_path(settings, run_id))
    assert killed.status == "running" and killed.lease_token is not None
    assert saved is not None and saved["step"] == EVERY

    lapse_and_requeue(settings, run_id)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, events = load(settings, run_id)
    expected, _, _ = load(settings, reference)
    assert run.attempts == 2 and len(measurements) == 1 and run.result["resumed_from_step"] == EVERY
    assert run.result["final_loss"] == pytest.approx(expected.result["final_loss"], rel=1e-5)
    assert run.result["accuracy"] == expected.result["accuracy"] and expected.result["resumed_from_step"] == 0
    resumed_at = next(i for i, e in enumerate(events) if e.get("resumed_from_step") == EVERY)
    steps = [e["step"] for e in events if e["kind"] == "progress"]
    assert steps == sorted(steps)  # progress never went back, although steps 6-7 were trained twice
    assert all(e["step"] >= EVERY for e in events[resumed_at:] if e["kind"] == "progress")
    assert not checkpoint_path(settings, run_id).exists() and not checkpoint_path(settings, reference).exists()


def test_a_delivery_that_lost_its_lease_stops_and_records_nothing(
    settings: Settings, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(settings, tiny_model_dir, classification_rows(), options={"steps": 40})
    real_step = finetune._step

    def taken_over_at_step_7(training: Any, loop: Any, step: int) -> None:
        if step == 7:  # as if its lease lapsed and another worker's delivery took the run
            with session_scope(settings.database_url) as session:
                values = {"lease_token": "another delivery", "lease_owner": "w2@elsewhere"}
                session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
                session.commit()
        real_step(training, loop, step)

    monkeypatch.setattr(finetune, "_step", taken_over_at_step_7)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "running"
    run, measurements, events = load(settings, run_id)
    assert measurements == [] and run.lease_owner == "w2@elsewhere" and run.progress["step"] < 40
    assert "accuracy" not in run.result and events[-1]["kind"] == "progress" and events[-1]["step"] <= 7
    saved = load_checkpoint(checkpoint_path(settings, run_id))
    assert saved is not None and saved["step"] == EVERY  # the run's, for whoever holds it now


def test_checkpoints_of_ended_runs_are_pruned(settings: Settings, tiny_model_dir: Path) -> None:
    ended = make_run(settings, tiny_model_dir, classification_rows())
    live = make_run(settings, tiny_model_dir, classification_rows())
    with session_scope(settings.database_url) as session:
        runs_repo.request_cancel(session=session, run_id=ended)
    for run_id in (ended, live, "gone"):
        save_checkpoint(checkpoint_path(settings, run_id), {"step": 1})
    half_written = checkpoint_path(settings, ended).with_name(f".{ended}.pt.123.partial")
    half_written.write_bytes(b"")
    assert prune_checkpoints(settings) == 2
    assert sorted(p.name for p in checkpoint_path(settings, live).parent.iterdir()) == [f"{live}.pt"]
