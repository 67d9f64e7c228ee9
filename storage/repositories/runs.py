"""Runs: queued real probes and fine-tunes. State, progress events and results live here.

The API creates a run (idempotent by key) and commits before anything is enqueued; a worker moves it
through ``queued → running → succeeded | failed | cancelled``, writing one event row per status change
and per progress report (``GET /v1/runs/{id}/events`` streams them). ``finish_run`` writes the run's
measurement and its final status in one transaction, so a redelivered run can never record twice.

Leases: the delivery that runs a run holds ``lease_token`` until ``lease_expires_at``, renewed while it
trains (:func:`renew_lease`, :func:`report_progress`). A second delivery of a run whose lease is live is
refused (``held``), so a message the broker hands out twice never trains twice; a lapsed lease means the
worker died, and the run is re-queued (:mod:`storage.repositories.workers`) or, if asked, cancelled at once.
A delivery whose token no longer matches has lost the run: its progress, retry and finish are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, extract, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.errors import ConflictError, NotFoundError
from storage.models import MeasurementRow, PredictionRow, RunEventRow, RunRow, WorkerRow, as_utc, utcnow
from storage.repositories.catalog import Page

__all__ = [
    "CANCELLED",
    "FAILED",
    "MEASURED_STEPS",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "TERMINAL",
    "FinishedRuns",
    "Lease",
    "ProgressAnswer",
    "begin_delivery",
    "cancel_requested",
    "count_runs",
    "create_run",
    "discard_unqueued_run",
    "finish_run",
    "finished_runs",
    "get_run",
    "hand_off",
    "lease_lapsed",
    "list_events",
    "list_runs",
    "measured_step_rows",
    "note_resumed",
    "queue_position",
    "renew_lease",
    "report_progress",
    "request_cancel",
    "requeue_for_retry",
    "unfinished_run_ids",
    "verified_prediction",
]

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

# What makes two POSTs "the same run" under one idempotency key.
_IDENTITY_FIELDS = ("kind", "candidate", "task_id", "dataset_id", "plan_id", "prediction_id", "options")


def _event(session: Session, run_id: str, kind: str, data: dict[str, Any]) -> None:
    session.add(RunEventRow(run_id=run_id, kind=kind, data=data))


def _set_status(session: Session, row: RunRow, status: str, **extra: Any) -> None:
    row.status = status
    _event(session, row.id, "status", {"status": status, **extra})


def create_run(*, session: Session, values: Mapping[str, Any], idempotency_key: str | None) -> tuple[RunRow, bool]:
    """Store a queued run; returns ``(row, created)``.

    With an idempotency key, a second call returns the first run (``created`` false) when the request is
    the same, and raises :class:`ConflictError` when the key was used for a different request.
    """
    if idempotency_key is not None:
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, values, idempotency_key), False
    row = RunRow(**values, idempotency_key=idempotency_key, status=QUEUED, progress={}, result={})
    session.add(row)
    try:
        session.flush()
        _event(session, row.id, "status", {"status": QUEUED})
        session.commit()
    except IntegrityError:
        # A concurrent POST with the same key committed first: answer with its run.
        session.rollback()
        existing = _by_key(session, idempotency_key) if idempotency_key is not None else None
        if existing is None:
            raise
        return _same_request(existing, values, idempotency_key or ""), False
    return row, True


def _by_key(session: Session, key: str) -> RunRow | None:
    return session.scalars(select(RunRow).where(RunRow.idempotency_key == key)).first()


def _same_request(existing: RunRow, values: Mapping[str, Any], key: str) -> RunRow:
    for name in _IDENTITY_FIELDS:
        if name in values and values[name] != getattr(existing, name):
            raise ConflictError(
                "idempotency_key", f"key {key!r} was already used for a different run ({existing.id}); {name} differs"
            )
    return existing


def get_run(*, session: Session, run_id: str, field: str = "run_id", location: str = "path") -> RunRow:
    row = session.get(RunRow, run_id)
    if row is None:
        raise NotFoundError("run", run_id, field=field, location=location)
    return row


def list_runs(
    *,
    session: Session,
    limit: int,
    offset: int,
    task_id: str | None = None,
    plan_id: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    method: str | None = None,
    model: str | None = None,
) -> Page[RunRow]:
    """Runs, newest first, filtered by task, plan, status, kind, method name and model id (a stored run's
    model is always ``{"id", "path"?}``, see ``workers/submit.py``)."""
    conditions = [
        column == value
        for column, value in (
            (RunRow.task_id, task_id),
            (RunRow.plan_id, plan_id),
            (RunRow.status, status),
            (RunRow.kind, kind),
            (RunRow.candidate[("method", "name")].as_string(), method),
            (RunRow.candidate[("model", "id")].as_string(), model),
        )
        if value is not None
    ]
    query = select(RunRow).where(*conditions).order_by(RunRow.created_at.desc(), RunRow.id)
    total = session.scalar(select(func.count()).select_from(RunRow).where(*conditions)) or 0
    return Page(items=list(session.scalars(query.limit(limit).offset(offset))), total=total, limit=limit, offset=offset)


def queue_position(*, session: Session, run: RunRow) -> int | None:
    """For a queued run, its place in its queue (1: the next one handed out; the broker is first in, first
    out); None for a run that is not waiting."""
    if run.status != QUEUED:
        return None
    earlier = or_(RunRow.created_at < run.created_at, and_(RunRow.created_at == run.created_at, RunRow.id < run.id))
    ahead = session.scalar(
        select(func.count()).select_from(RunRow).where(RunRow.status == QUEUED, RunRow.queue == run.queue, earlier)
    )
    return (ahead or 0) + 1


def verified_prediction(*, session: Session, run: RunRow) -> PredictionRow | None:
    """The stored prediction this run checks (its plan's row for the candidate), if it names one."""
    return session.get(PredictionRow, run.prediction_id) if run.prediction_id else None


def request_cancel(*, session: Session, run_id: str) -> RunRow:
    """Flag a run for cancellation. A queued run is cancelled at once (its worker will skip it), and so is
    a stranded one (running, but no worker holds it: its lease lapsed); a running one stops at its next
    step check. Cancelling a cancelled run is a no-op; a finished one conflicts."""
    row = session.get(RunRow, run_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFoundError("run", run_id, field="run_id", location="path")
    if row.status in {SUCCEEDED, FAILED}:
        raise ConflictError("run_id", f"run {run_id!r} already {row.status}; it cannot be cancelled")
    if row.status == CANCELLED:
        session.rollback()
        return row
    row.cancel_requested = True
    stranded = _stranded(session, row) if row.status == RUNNING else None
    if row.status == QUEUED or stranded is not None:
        reason = "cancelled before it started" if stranded is None else f"cancelled while stranded: {stranded}"
        _set_status(session, row, CANCELLED, reason=reason)
        _release(row)
        row.finished_at = utcnow()
    else:
        _event(session, row.id, "status", {"status": row.status, "cancel_requested": True})
    session.commit()
    return row


def _stranded(session: Session, row: RunRow) -> str | None:
    """Why no worker holds this running run any more (its lease lapsed, or its worker is gone), else None."""
    from storage.repositories.workers import orphan_reason

    name = (row.result or {}).get("worker")
    worker = session.get(WorkerRow, str(name)) if name else None
    return orphan_reason(row, {worker.name: worker} if worker is not None else {}, utcnow())


def lease_lapsed(row: RunRow, now: datetime) -> float | None:
    """Seconds since the run's lease ran out (0 or more), or None while it holds or has none."""
    if row.lease_expires_at is None:
        return None
    lapsed_s = (now - as_utc(row.lease_expires_at)).total_seconds()
    return lapsed_s if lapsed_s >= 0 else None


def _release(row: RunRow) -> None:
    row.lease_owner = row.lease_token = row.lease_expires_at = None


def list_events(*, session: Session, run_id: str, after_id: int = 0, limit: int = 500) -> list[RunEventRow]:
    return list(
        session.scalars(
            select(RunEventRow)
            .where(RunEventRow.run_id == run_id, RunEventRow.id > after_id)
            .order_by(RunEventRow.id)
            .limit(limit)
        )
    )


DeliveryDecision = Literal["run", "skip", "held", "exhausted"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A delivery's claim on its run: ``token`` (new per delivery), held for ``seconds`` unless renewed, by
    process ``pid`` of the worker whose boot id :func:`begin_delivery` is given."""

    token: str
    seconds: float
    pid: int | None = None


def begin_delivery(
    *,
    session: Session,
    run_id: str,
    worker: str,
    max_deliveries: int,
    worker_boot: str | None = None,
    lease: Lease | None = None,
    pid_alive: Callable[[int], bool] | None = None,
) -> tuple[DeliveryDecision, RunRow | None]:
    """Count one delivery of a run's message and decide what the worker does with it.

    ``worker`` is the Celery node name and ``worker_boot`` its process's boot id (see
    :mod:`storage.repositories.workers`). ``skip``: unknown, finished or cancelled (a redelivered message
    after completion, or a cancel that came first). ``held``: another delivery holds a live lease on it (the
    broker delivered the message twice); nothing changes. ``exhausted``: this is delivery
    ``max_deliveries + 1`` (earlier ones crashed), so the run is marked failed instead of looping. ``run``:
    the run is now ``running`` on ``worker``, under ``lease`` when given. ``pid_alive`` says whether a pool
    sibling (same boot id) still lives: one that died let go of its lease at once.
    """
    row = session.get(RunRow, run_id, with_for_update=True, populate_existing=True)
    if row is None:
        return "skip", None
    if row.status in TERMINAL:
        session.rollback()
        return "skip", row
    if _held_elsewhere(row, worker_boot=worker_boot, pid_alive=pid_alive):
        _event(session, row.id, "status", {"status": RUNNING, "refused_delivery": worker, "held_by": row.lease_owner})
        session.commit()
        return "held", row
    if row.cancel_requested:
        _set_status(session, row, CANCELLED, reason="cancelled before it started")
        row.finished_at = utcnow()
        session.commit()
        return "skip", row
    row.attempts += 1
    if row.attempts > max_deliveries:
        message = f"gave up after {max_deliveries} deliveries; the worker running it died each time"
        _set_status(session, row, FAILED, error=message)
        row.error = message
        row.finished_at = utcnow()
        session.commit()
        return "exhausted", row
    if row.status == RUNNING:
        _event(session, row.id, "status", {"status": RUNNING, "redelivered": True, "attempt": row.attempts})
    row.started_at = row.started_at or utcnow()
    # Which worker process holds the run: if it dies, ``requeue_orphaned_runs`` sees its row go silent or
    # change boot id, and puts the run back in the queue.
    row.result = {
        **row.result,
        "worker": worker,
        "worker_boot": worker_boot,
        "worker_pid": lease.pid if lease else None,
    }
    if lease is not None:
        row.lease_owner, row.lease_token = worker, lease.token
        row.lease_expires_at = utcnow() + timedelta(seconds=lease.seconds)
    else:
        _release(row)
    _set_status(session, row, RUNNING, worker=worker, attempt=row.attempts)
    session.commit()
    return "run", row


def _held_elsewhere(row: RunRow, *, worker_boot: str | None, pid_alive: Callable[[int], bool] | None) -> bool:
    """Whether another delivery holds a live lease on ``row``. A holder that was a pool process of this same
    worker (same boot id, so the same process tree) and has died holds nothing: Celery redelivers its
    message at once, and waiting out the lease would only delay the run."""
    if row.status != RUNNING or row.lease_token is None or lease_lapsed(row, utcnow()) is not None:
        return False
    pid = (row.result or {}).get("worker_pid")
    sibling = worker_boot is not None and (row.result or {}).get("worker_boot") == worker_boot
    return not (sibling and pid_alive is not None and isinstance(pid, int) and not pid_alive(pid))


ProgressAnswer = Literal["continue", "cancel", "lost"]


def report_progress(
    *, session: Session, run_id: str, progress: Mapping[str, Any], lease: Lease | None = None
) -> ProgressAnswer:
    """Store the latest progress and append it as an event, renewing ``lease``. A step below the stored one
    is not stored (a run resumed or redone never moves back). ``lost``: the lease is no longer this
    delivery's (stop, record nothing); ``cancel``: a cancel was requested."""
    row = get_run(session=session, run_id=run_id)
    session.refresh(row)
    if lease is not None and not _renew(session, run_id, lease):
        session.rollback()
        return "lost"
    step, stored = progress.get("step"), (row.progress or {}).get("step")
    if not (isinstance(step, int) and isinstance(stored, int) and step < stored):
        row.progress = dict(progress)
        _event(session, run_id, "progress", dict(progress))
    session.commit()
    return "cancel" if row.cancel_requested else "continue"


def renew_lease(*, session: Session, run_id: str, lease: Lease) -> ProgressAnswer:
    """Extend this delivery's lease by ``lease.seconds``; ``lost`` when another took the run over (or it was
    re-queued or finished), ``cancel`` when a cancel was requested."""
    if not _renew(session, run_id, lease):
        session.rollback()
        return "lost"
    session.commit()
    cancel = session.scalar(select(RunRow.cancel_requested).where(RunRow.id == run_id))
    return "cancel" if cancel else "continue"


def note_resumed(*, session: Session, run_id: str, step: int, lease: Lease | None = None) -> ProgressAnswer:
    """Say in the run's events that this delivery goes on from its checkpoint at ``step`` (renewing
    ``lease``): the steps before it are not trained again."""
    if lease is not None and not _renew(session, run_id, lease):
        session.rollback()
        return "lost"
    _event(session, run_id, "status", {"status": RUNNING, "resumed_from_step": step})
    session.commit()
    return "continue"


def _renew(session: Session, run_id: str, lease: Lease) -> bool:
    """One conditional UPDATE (atomic on SQLite and PostgreSQL): true while ``lease`` still holds the run."""
    renewed = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RUNNING, RunRow.lease_token == lease.token)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease.seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(renewed, "rowcount", 0))


def cancel_requested(*, session: Session, run_id: str) -> bool:
    row = get_run(session=session, run_id=run_id)
    session.refresh(row)
    return bool(row.cancel_requested)


def finish_run(
    *,
    session: Session,
    run_id: str,
    status: str,
    result: Mapping[str, Any],
    error: str | None = None,
    measurement: Mapping[str, Any] | None = None,
    lease: Lease | None = None,
) -> RunRow:
    """Final status, result and (at most one) measurement, committed together.

    A run already finished is left as it is, so a late duplicate delivery changes nothing; with ``lease``,
    so is a run that delivery no longer holds (another worker took it over, or it was re-queued).
    """
    row = get_run(session=session, run_id=run_id)
    session.refresh(row)
    if row.status in TERMINAL:
        return row
    if lease is not None and not _take_back(session, run_id, lease):
        session.rollback()
        session.refresh(row)
        return row
    if measurement is not None:
        exists = session.scalars(select(MeasurementRow.id).where(MeasurementRow.run_id == run_id)).first()
        if exists is None:
            session.add(MeasurementRow(**measurement, run_id=run_id, source=f"run:{run_id}"))
    row.result = {**row.result, **result}
    row.error = error
    _release(row)
    row.finished_at = datetime.now(UTC)
    _set_status(session, row, status, **({"error": error} if error else {}))
    session.commit()
    return row


def requeue_for_retry(*, session: Session, run_id: str, reason: str, lease: Lease | None = None) -> bool:
    """Back to ``queued`` before a retry of a transient error; False (nothing changed) when the run is
    finished or, with ``lease``, no longer this delivery's."""
    row = get_run(session=session, run_id=run_id)
    session.refresh(row)
    if row.status in TERMINAL or (lease is not None and not _take_back(session, run_id, lease)):
        session.rollback()
        return False
    _release(row)
    _set_status(session, row, QUEUED, retry_reason=reason)
    session.commit()
    return True


def _take_back(session: Session, run_id: str, lease: Lease) -> bool:
    """Clear this delivery's lease in one conditional UPDATE, which also takes the row's write lock for the
    rest of the transaction; false when ``lease`` no longer holds the run."""
    taken = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RUNNING, RunRow.lease_token == lease.token)
        .values(lease_token=None, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(taken, "rowcount", 0))


def hand_off(*, session: Session, run_id: str, reason: str, max_handoffs: int) -> bool:
    """A worker that the run does not fit gives it back; returns False (and fails the run) past the cap."""
    row = get_run(session=session, run_id=run_id)
    _release(row)
    row.handoffs += 1
    row.attempts = max(0, row.attempts - 1)  # a hand-off is not a crash
    if row.handoffs > max_handoffs:
        message = f"no worker that fits it took the run after {max_handoffs} hand-offs ({reason})"
        row.error = message
        row.finished_at = utcnow()
        _set_status(session, row, FAILED, error=message)
        session.commit()
        return False
    _set_status(session, row, QUEUED, handed_off=reason)
    session.commit()
    return True


def discard_unqueued_run(*, session: Session, run_id: str) -> None:
    """Delete a run that was stored but could not be enqueued (its events go with it), so the request
    leaves nothing behind and its idempotency key stays unused."""
    session.delete(get_run(session=session, run_id=run_id))
    session.commit()


def unfinished_run_ids(*, session: Session, run_ids: Iterable[str]) -> set[str]:
    """Those of ``run_ids`` that name a stored run not yet ended: whose checkpoints must stay."""
    ids = list(run_ids)
    return set(session.scalars(select(RunRow.id).where(RunRow.id.in_(ids), RunRow.status.not_in(TERMINAL))))


MEASURED_STEPS = and_(RunRow.kind == "finetune", RunRow.status == "succeeded")
"""The runs whose measured GPU steps refit the efficiency calibration."""


def measured_step_rows(*, session: Session) -> list[dict[str, Any]]:
    """Calibration rows (``result.calibration_row``) of succeeded fine-tunes, oldest first: the measured
    GPU steps the cost model's efficiency calibration is refitted on."""
    rows = session.scalars(select(RunRow).where(MEASURED_STEPS).order_by(RunRow.finished_at))
    return [
        dict(row.result["calibration_row"])
        for row in rows
        if isinstance((row.result or {}).get("calibration_row"), dict)
    ]


def count_runs(*, session: Session) -> dict[tuple[str, str], int]:
    """How many runs are stored in each (status, queue): one grouped count, whatever the history's size."""
    rows = session.execute(select(RunRow.status, RunRow.queue, func.count()).group_by(RunRow.status, RunRow.queue))
    return {(status, queue): int(n) for status, queue, n in rows}


@dataclass(frozen=True, slots=True)
class FinishedRuns:
    """The finished runs of one kind and final status: how many, and how long those that started ran
    (``started_at`` to ``finished_at``; a run cancelled while queued never started). ``n_timed_within``
    holds, for each bound asked for, how many ran for at most that many seconds."""

    kind: str
    status: str
    n_runs: int
    n_timed: int
    duration_sum_s: float
    n_timed_within: tuple[int, ...]


def _run_seconds(session: Session) -> ColumnElement[Any]:
    """Seconds from a run's start to its finish, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", RunRow.finished_at - RunRow.started_at)
    return (func.julianday(RunRow.finished_at) - func.julianday(RunRow.started_at)) * 86400.0


def finished_runs(*, session: Session, bounds_s: Sequence[float]) -> list[FinishedRuns]:
    """Counts and durations of every finished run, by kind and final status, aggregated in one query (for
    a histogram with upper bounds ``bounds_s``): the rows never leave the database."""
    seconds = _run_seconds(session)
    query = (
        select(
            RunRow.kind,
            RunRow.status,
            func.count(RunRow.id),
            func.count(seconds),
            func.coalesce(func.sum(seconds), 0.0),
            *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds_s),
        )
        .where(RunRow.status.in_(sorted(TERMINAL)))
        .group_by(RunRow.kind, RunRow.status)
    )
    return [
        FinishedRuns(
            kind=kind,
            status=status,
            n_runs=int(n_runs),
            n_timed=int(n_timed),
            duration_sum_s=float(total_s),
            n_timed_within=tuple(int(n or 0) for n in within),
        )
        for kind, status, n_runs, n_timed, total_s, *within in session.execute(query)
    ]
