"""What the service knows of its workers: who is live, on which queues, and what a queued run waits for."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.embedded_worker import EmbeddedWorker
from api.schemas.workers import EmbeddedWorkerStatus, WorkerPublic, WorkersSummary
from storage.model_files import local_models
from storage.models import RunRow, WorkerRow, utcnow
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.settings import Settings

__all__ = ["QUEUES", "available_models", "embedded_status", "run_waiting_for", "worker_public", "workers_summary"]

QUEUES = ("gpu", "cpu")


def worker_public(row: WorkerRow) -> WorkerPublic:
    now = utcnow()
    heard = row.last_heartbeat_at if row.last_heartbeat_at.tzinfo else row.last_heartbeat_at.replace(tzinfo=now.tzinfo)
    return WorkerPublic.model_validate(
        {
            **{name: getattr(row, name) for name in WorkerPublic.model_fields if hasattr(row, name)},
            "live": workers_repo.is_live(row, now=now),
            "seconds_since_heartbeat": max(0.0, (now - heard).total_seconds()),
        }
    )


def embedded_status(embedded: EmbeddedWorker | None) -> EmbeddedWorkerStatus | None:
    return EmbeddedWorkerStatus.model_validate(embedded.status()) if embedded is not None else None


def workers_summary(*, session: Session, embedded: EmbeddedWorker | None) -> WorkersSummary:
    live = workers_repo.live_workers(session=session)
    return WorkersSummary(
        live=len(live),
        names=[row.name for row in live],
        queues={queue: sum(queue in (row.queues or []) for row in live) for queue in QUEUES},
        embedded=embedded_status(embedded),
    )


def run_waiting_for(*, session: Session, run: RunRow, embedded: EmbeddedWorker | None) -> dict[str, Any] | None:
    """For a queued run: how many live workers consume its queue and, when none does, what to do about it.
    None for a run that is not waiting."""
    if run.status != runs_repo.QUEUED:
        return None
    live = workers_repo.live_workers(session=session, queue=run.queue)
    if live:
        return {"live_workers": len(live), "message": f"waiting for one of {len(live)} live {run.queue} workers"}
    message = f"no live worker consumes the {run.queue!r} queue: start one with `tunecast worker --queues {run.queue}`"
    status = embedded.status() if embedded is not None else None
    if status is not None and status["state"] != "running":
        message += f" (the embedded worker is {status['state']}: {status['detail']})"
    elif status is not None:
        message = "the embedded worker is starting; the run begins once it has registered"
    return {"live_workers": 0, "message": message}


def available_models(*, session: Session, settings: Settings, embedded: EmbeddedWorker | None) -> set[str] | None:
    """Model ids some worker can load: those the live workers report, and, beside an embedded worker that
    can run (same machine, same settings), what it will find. None when no worker is known at all."""
    live = workers_repo.live_workers(session=session)
    runnable = embedded is not None and embedded.status()["state"] not in {"unavailable", "gone"}
    if not live and not runnable:
        return None
    ids = {str(model.get("id")) for row in live for model in (row.models or []) if isinstance(model, dict)}
    if runnable:
        ids |= set(local_models(settings))
    return ids
