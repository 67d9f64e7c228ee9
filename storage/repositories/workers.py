"""Workers as they report themselves, and the runs whose worker is gone.

Every worker process writes its row when it starts and a heartbeat every :data:`HEARTBEAT_INTERVAL_S`;
it is *live* while its last heartbeat is younger than :data:`LIVE_TIMEOUT_S` and it has not said it
stopped. A running run is *orphaned* when its lease lapsed (the process running it stopped renewing it)
or its worker stopped or restarted under the same name; a run from before leases, when its worker is no
longer live. :func:`requeue_orphaned_runs` puts it back in the queue, once (or cancels it, if a cancel
was asked for), so nothing is lost when a worker dies mid-run, whatever the broker does with the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.models import RunEventRow, RunRow, WorkerRow, as_utc, utcnow
from storage.repositories.runs import CANCELLED, QUEUED, RUNNING, lease_lapsed

__all__ = [
    "HEARTBEAT_INTERVAL_S",
    "LIVE_TIMEOUT_S",
    "OrphanedRun",
    "heartbeat",
    "is_live",
    "list_workers",
    "live_workers",
    "mark_stopped",
    "orphan_reason",
    "register_worker",
    "requeue_orphaned_runs",
]

HEARTBEAT_INTERVAL_S = 5.0
LIVE_TIMEOUT_S = 30.0
"""A worker silent for this long is taken for dead (six missed heartbeats)."""


def is_live(row: WorkerRow, *, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.status == "online" and now - as_utc(row.last_heartbeat_at) < timedelta(seconds=LIVE_TIMEOUT_S)


FORGET_AFTER = timedelta(days=7)
"""Rows of workers not heard from for this long are dropped when a worker registers."""


def register_worker(*, session: Session, name: str, values: Mapping[str, Any]) -> WorkerRow:
    """Write (or overwrite) a worker's row as it starts: online, with a fresh heartbeat. Workers gone for
    :data:`FORGET_AFTER` are forgotten (their runs, if any, were re-queued long since)."""
    now = utcnow()
    session.execute(delete(WorkerRow).where(WorkerRow.last_heartbeat_at < now - FORGET_AFTER, WorkerRow.name != name))
    row = session.get(WorkerRow, name)
    fields = {**values, "status": "online", "detail": None, "started_at": now, "last_heartbeat_at": now}
    if row is None:
        row = WorkerRow(name=name, **fields)
        session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
    session.commit()
    return row


def heartbeat(*, session: Session, name: str, boot_id: str, models: Sequence[Any] | None = None) -> bool:
    """Say this worker process (``boot_id``) is alive; False when its row was taken by a newer process."""
    values: dict[str, Any] = {"last_heartbeat_at": utcnow(), "status": "online"}
    if models is not None:
        values["models"] = list(models)
    result = session.execute(
        update(WorkerRow).where(WorkerRow.name == name, WorkerRow.boot_id == boot_id).values(**values)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def mark_stopped(*, session: Session, name: str, boot_id: str, detail: str) -> None:
    session.execute(
        update(WorkerRow)
        .where(WorkerRow.name == name, WorkerRow.boot_id == boot_id)
        .values(status="stopped", detail=detail, last_heartbeat_at=utcnow())
    )
    session.commit()


def list_workers(*, session: Session) -> list[WorkerRow]:
    """Every worker that ever reported, most recently heard from first."""
    return list(session.scalars(select(WorkerRow).order_by(WorkerRow.last_heartbeat_at.desc(), WorkerRow.name)))


def live_workers(*, session: Session, queue: str | None = None) -> list[WorkerRow]:
    now = utcnow()
    rows = [row for row in list_workers(session=session) if is_live(row, now=now)]
    return [row for row in rows if queue is None or queue in (row.queues or [])]


@dataclass(frozen=True, slots=True)
class OrphanedRun:
    run_id: str
    kind: str
    queue: str
    reason: str


def orphan_reason(run: RunRow, workers: Mapping[str, WorkerRow], now: datetime) -> str | None:
    """Why ``run`` (running) has no live worker, or None while it has one. A run whose lease lapsed is
    orphaned whoever ran it; one without a lease (from before leases) whose worker never reported (run
    outside a worker process) is left alone: nothing says it stopped."""
    lapsed_s = lease_lapsed(run, now)
    if lapsed_s is not None:
        return f"its lease (held by {run.lease_owner}) ran out {lapsed_s:.0f} s ago: its worker stopped renewing it"
    name, boot = (run.result or {}).get("worker"), (run.result or {}).get("worker_boot")
    worker = workers.get(str(name)) if name else None
    if worker is None or boot is None:
        return None
    if worker.boot_id != boot:
        return f"its worker {name} restarted (the process that ran it is gone)"
    if worker.status != "online":
        return f"its worker {name} stopped ({worker.detail or 'no reason given'})"
    silent = (now - as_utc(worker.last_heartbeat_at)).total_seconds()
    if run.lease_expires_at is None and silent >= LIVE_TIMEOUT_S:
        return f"its worker {name} has not been heard from for {silent:.0f} s"
    return None


def requeue_orphaned_runs(*, session: Session, queues: Sequence[str] | None = None) -> list[OrphanedRun]:
    """Put every running run whose worker is gone back to ``queued`` (one event each; one a cancel was
    asked for becomes ``cancelled``) and return the re-queued, for the caller to enqueue after this commit.
    Safe when several workers do it at once, and against a lease renewed meanwhile: a run is claimed by a
    conditional update on the row as read (its lease token and last update), so only one re-queues it."""
    now = utcnow()
    workers = {row.name: row for row in list_workers(session=session)}
    query = select(RunRow).where(RunRow.status == RUNNING)
    if queues is not None:
        query = query.where(RunRow.queue.in_(list(queues)))
    orphaned: list[OrphanedRun] = []
    for run in session.scalars(query).all():
        reason = orphan_reason(run, workers, now)
        if reason is None:
            continue
        status = CANCELLED if run.cancel_requested else QUEUED
        claimed = session.execute(
            update(RunRow)
            .where(RunRow.id == run.id, RunRow.status == RUNNING, RunRow.updated_at == run.updated_at)
            .where(RunRow.lease_token.is_(None) if run.lease_token is None else RunRow.lease_token == run.lease_token)
            .values(status=status, updated_at=now, lease_owner=None, lease_token=None, lease_expires_at=None)
            .values(finished_at=now if status == CANCELLED else None)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue
        key = "requeued" if status == QUEUED else "reason"
        session.add(RunEventRow(run_id=run.id, kind="status", data={"status": status, key: reason}))
        if status == QUEUED:
            orphaned.append(OrphanedRun(run.id, run.kind, run.queue, reason))
    session.commit()
    return orphaned
