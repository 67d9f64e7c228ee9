"""Worker rows, liveness, and runs whose worker is gone put back in the queue exactly once (both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import migrate
from storage.db import session_scope
from storage.models import RunEventRow, RunRow, WorkerRow, utcnow
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo

WORKER = "tunecast-cpu-gpu@host"


def _values(boot: str, queues: list[str] | None = None) -> dict[str, object]:
    return {
        "boot_id": boot,
        "hostname": "host",
        "pid": 123,
        "queues": queues or ["cpu", "gpu"],
        "versions": {"python": "3.11"},
        "model_roots": ["/models"],
        "models": [{"id": "smollm2-135m-instruct", "path": "/m.gguf", "format": "gguf", "source": "packaged"}],
        "hardware": {"device": "cpu"},
    }


def _register(database_url: str, *, boot: str = "boot-1", queues: list[str] | None = None) -> None:
    with session_scope(database_url) as session:
        workers_repo.register_worker(session=session, name=WORKER, values=_values(boot, queues))


def _running_run(database_url: str, *, boot: str | None = "boot-1", worker: str = WORKER) -> str:
    with session_scope(database_url) as session:
        run, _ = runs_repo.create_run(
            session=session, values={"kind": "finetune", "candidate": {}, "queue": "gpu"}, idempotency_key=None
        )
        decision, _row = runs_repo.begin_delivery(
            session=session, run_id=run.id, worker=worker, worker_boot=boot, max_deliveries=3
        )
        assert decision == "run"
        return run.id


def _status(database_url: str, run_id: str) -> str:
    with session_scope(database_url) as session:
        return runs_repo.get_run(session=session, run_id=run_id).status


def test_a_worker_is_live_until_it_stops_or_goes_silent(database_url: str) -> None:
    migrate.upgrade(database_url)
    _register(database_url)
    with session_scope(database_url) as session:
        assert [w.name for w in workers_repo.live_workers(session=session, queue="gpu")] == [WORKER]
        assert workers_repo.live_workers(session=session, queue="tpu") == []
        assert workers_repo.heartbeat(session=session, name=WORKER, boot_id="boot-1")
        assert not workers_repo.heartbeat(session=session, name=WORKER, boot_id="an older process")
        row = session.get(WorkerRow, WORKER)
        assert row is not None
        row.last_heartbeat_at = utcnow() - timedelta(seconds=workers_repo.LIVE_TIMEOUT_S + 1)
        session.commit()
        assert workers_repo.live_workers(session=session) == []
    _register(database_url, boot="boot-2")
    with session_scope(database_url) as session:
        workers_repo.mark_stopped(session=session, name=WORKER, boot_id="boot-2", detail="shut down")
        assert workers_repo.live_workers(session=session) == []
        assert session.get(WorkerRow, WORKER).detail == "shut down"  # type: ignore[union-attr]


def test_a_run_of_a_live_worker_stays_running(database_url: str) -> None:
    migrate.upgrade(database_url)
    _register(database_url)
    run_id = _running_run(database_url)
    with session_scope(database_url) as session:
        assert workers_repo.requeue_orphaned_runs(session=session) == []
    assert _status(database_url, run_id) == "running"


def test_a_run_whose_worker_stopped_goes_back_to_the_queue_once(database_url: str) -> None:
    migrate.upgrade(database_url)
    _register(database_url)
    run_id = _running_run(database_url)
    with session_scope(database_url) as session:
        workers_repo.mark_stopped(session=session, name=WORKER, boot_id="boot-1", detail="killed")
        orphaned = workers_repo.requeue_orphaned_runs(session=session)
        assert [(o.run_id, o.queue, o.kind) for o in orphaned] == [(run_id, "gpu", "finetune")]
        assert "stopped (killed)" in orphaned[0].reason
        assert workers_repo.requeue_orphaned_runs(session=session) == []  # the second reaper finds nothing
        events = session.scalars(select(RunEventRow).where(RunEventRow.run_id == run_id)).all()
        assert [e.data for e in events if e.data.get("requeued")] == [
            {"status": "queued", "requeued": orphaned[0].reason}
        ]
    assert _status(database_url, run_id) == "queued"


def test_a_restarted_worker_does_not_claim_its_predecessors_run(database_url: str) -> None:
    """The embedded worker restarts under the same name: the run the killed process held is orphaned."""
    migrate.upgrade(database_url)
    _register(database_url, boot="boot-1")
    run_id = _running_run(database_url, boot="boot-1")
    _register(database_url, boot="boot-2")
    with session_scope(database_url) as session:
        orphaned = workers_repo.requeue_orphaned_runs(session=session, queues=["gpu"])
    assert [o.run_id for o in orphaned] == [run_id] and "restarted" in orphaned[0].reason
    assert _status(database_url, run_id) == "queued"


def test_a_silent_worker_loses_its_run_and_unknown_workers_are_left_alone(database_url: str) -> None:
    migrate.upgrade(database_url)
    _register(database_url)
    silent = _running_run(database_url)
    unknown = _running_run(database_url, worker="a-process-that-never-reported", boot=None)
    with session_scope(database_url) as session:
        row = session.get(WorkerRow, WORKER)
        assert row is not None
        row.last_heartbeat_at = utcnow() - timedelta(seconds=120)
        session.commit()
        orphaned = workers_repo.requeue_orphaned_runs(session=session, queues=["cpu"])
        assert orphaned == []  # not this reaper's queue
        orphaned = workers_repo.requeue_orphaned_runs(session=session)
    assert [o.run_id for o in orphaned] == [silent] and "not been heard from" in orphaned[0].reason
    assert _status(database_url, unknown) == "running"
    with session_scope(database_url) as session:
        assert session.get(RunRow, silent).result["worker_boot"] == "boot-1"  # type: ignore[union-attr]


def test_workers_gone_for_a_week_are_forgotten(database_url: str) -> None:
    migrate.upgrade(database_url)
    _register(database_url)
    with session_scope(database_url) as session:
        row = session.get(WorkerRow, WORKER)
        assert row is not None
        row.last_heartbeat_at = utcnow() - workers_repo.FORGET_AFTER - timedelta(minutes=1)
        session.commit()
        workers_repo.register_worker(session=session, name="another@host", values=_values("b2"))
        assert [w.name for w in workers_repo.list_workers(session=session)] == ["another@host"]
