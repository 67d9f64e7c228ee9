"""Run leases in the repositories (both backends): one delivery holds a run, a second is refused while the
lease lives, a lapsed lease re-queues (or cancels) the run once, a delivery that lost its lease can neither
report, retry nor finish, progress never goes back, and a stranded run is cancelled at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from storage import migrate
from storage.db import session_scope
from storage.models import MeasurementRow, RunRow, utcnow
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.repositories.runs import Lease

WORKER, BOOT = "w1@host", "boot-1"
MEASUREMENT = {"task": "t", "model_id": "m", "method_name": "lora", "candidate": {}, "accuracy": 0.5}


def _queued_run(database_url: str) -> str:
    migrate.upgrade(database_url)
    with session_scope(database_url) as session:
        run, _ = runs_repo.create_run(
            session=session, values={"kind": "finetune", "candidate": {}, "queue": "gpu"}, idempotency_key=None
        )
        return run.id


def _deliver(
    database_url: str, run_id: str, lease: Lease, *, worker: str = WORKER, boot: str = BOOT, alive: bool = True
) -> str:
    with session_scope(database_url) as session:
        decision, _ = runs_repo.begin_delivery(
            session=session,
            run_id=run_id,
            worker=worker,
            worker_boot=boot,
            max_deliveries=3,
            lease=lease,
            pid_alive=lambda _pid: alive,
        )
        return decision


def _lapse(database_url: str, run_id: str) -> None:
    """As if the holder stopped renewing a while ago (its worker was SIGKILLed)."""
    with session_scope(database_url) as session:
        session.execute(
            update(RunRow).where(RunRow.id == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=5))
        )
        session.commit()


def _run(database_url: str, run_id: str) -> RunRow:
    with session_scope(database_url) as session:
        return runs_repo.get_run(session=session, run_id=run_id)


def test_a_second_delivery_is_refused_while_the_lease_lives(database_url: str) -> None:
    run_id = _queued_run(database_url)
    first, second = Lease("t1", 30.0, pid=11), Lease("t2", 30.0, pid=22)
    assert _deliver(database_url, run_id, first) == "run"
    row = _run(database_url, run_id)
    assert (row.lease_owner, row.lease_token, row.attempts) == (WORKER, "t1", 1)
    assert row.lease_expires_at is not None
    assert _deliver(database_url, run_id, second, worker="w2@host", boot="boot-2") == "held"
    assert _run(database_url, run_id).lease_token == "t1" and _run(database_url, run_id).attempts == 1
    # a pool sibling of the same worker that died holds nothing: its redelivered message runs at once
    assert _deliver(database_url, run_id, second, alive=False) == "run"
    assert _run(database_url, run_id).lease_token == "t2"


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_records_nothing(database_url: str) -> None:
    run_id = _queued_run(database_url)
    old, new = Lease("old", 30.0, pid=1), Lease("new", 30.0, pid=2)
    assert _deliver(database_url, run_id, old) == "run"
    with session_scope(database_url) as session:
        assert runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 5}, lease=old) == "continue"
    _lapse(database_url, run_id)
    assert _deliver(database_url, run_id, new, worker="w2@host", boot="boot-2") == "run"
    with session_scope(database_url) as session:
        assert runs_repo.renew_lease(session=session, run_id=run_id, lease=old) == "lost"
        assert runs_repo.report_progress(session=session, run_id=run_id, progress={"step": 9}, lease=old) == "lost"
        assert not runs_repo.requeue_for_retry(session=session, run_id=run_id, reason="x", lease=old)
        late = runs_repo.finish_run(
            session=session, run_id=run_id, status="succeeded", result={"by": "old"}, measurement=MEASUREMENT, lease=old
        )
        assert late.status == "running" and "by" not in late.result
        done = runs_repo.finish_run(
            session=session, run_id=run_id, status="succeeded", result={"by": "new"}, measurement=MEASUREMENT, lease=new
        )
        assert done.status == "succeeded" and done.lease_token is None
        assert len(session.scalars(select(MeasurementRow).where(MeasurementRow.run_id == run_id)).all()) == 1
    row = _run(database_url, run_id)
    assert row.result["by"] == "new" and row.progress["step"] == 5 and row.attempts == 2


def test_progress_never_goes_back(database_url: str) -> None:
    run_id = _queued_run(database_url)
    lease = Lease("t", 30.0)
    assert _deliver(database_url, run_id, lease) == "run"
    with session_scope(database_url) as session:
        for step in (3, 10, 4, 10, 12):
            runs_repo.report_progress(session=session, run_id=run_id, progress={"step": step, "total": 20}, lease=lease)
        steps = [e.data["step"] for e in runs_repo.list_events(session=session, run_id=run_id) if e.kind == "progress"]
    assert steps == [3, 10, 10, 12] and _run(database_url, run_id).progress["step"] == 12


def test_a_lapsed_lease_requeues_the_run_once_or_cancels_it(database_url: str) -> None:
    run_id, cancelled_id = _queued_run(database_url), _queued_run(database_url)
    assert _deliver(database_url, run_id, Lease("a", 30.0)) == "run"
    assert _deliver(database_url, cancelled_id, Lease("b", 30.0)) == "run"
    with session_scope(database_url) as session:
        assert workers_repo.requeue_orphaned_runs(session=session) == []  # both leases live, no worker row
        session.execute(update(RunRow).where(RunRow.id == cancelled_id).values(cancel_requested=True))
        session.commit()
    _lapse(database_url, run_id)
    _lapse(database_url, cancelled_id)
    with session_scope(database_url) as session:
        orphaned = workers_repo.requeue_orphaned_runs(session=session)
        assert [o.run_id for o in orphaned] == [run_id] and "lease (held by w1@host) ran out" in orphaned[0].reason
        assert workers_repo.requeue_orphaned_runs(session=session) == []
    requeued, cancelled = _run(database_url, run_id), _run(database_url, cancelled_id)
    assert requeued.status == "queued" and requeued.lease_token is None and requeued.lease_expires_at is None
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None


def test_cancel_stops_a_stranded_run_at_once_and_flags_a_held_one(database_url: str) -> None:
    held, stranded = _queued_run(database_url), _queued_run(database_url)
    assert _deliver(database_url, held, Lease("h", 30.0)) == "run"
    assert _deliver(database_url, stranded, Lease("s", 30.0)) == "run"
    _lapse(database_url, stranded)
    with session_scope(database_url) as session:
        assert runs_repo.request_cancel(session=session, run_id=held).status == "running"
        row = runs_repo.request_cancel(session=session, run_id=stranded)
        assert row.status == "cancelled" and row.lease_token is None and row.finished_at is not None
        events = [e.data for e in runs_repo.list_events(session=session, run_id=stranded)]
        assert "cancelled while stranded: its lease (held by w1@host) ran out" in events[-1]["reason"]
        assert runs_repo.report_progress(
            session=session, run_id=held, progress={"step": 1}, lease=Lease("h", 30.0)
        ) == ("cancel")
