"""Enqueue a committed run by id, and put back the runs whose worker is gone (no torch import here: the API
calls both)."""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from storage.db import session_scope
from storage.log_context import request_id_var
from storage.repositories import workers as workers_repo
from storage.settings import Settings
from workers.app import create_celery

__all__ = ["REQUEST_ID_HEADER", "RUN_KINDS", "RUN_TASKS", "enqueue_run", "publisher", "recover_orphans"]

logger = logging.getLogger("tunecast.workers")

REQUEST_ID_HEADER = "request_id"
"""The Celery message header naming the HTTP request that queued a run."""

RUN_TASKS = {
    "finetune": "tunecast.finetune.run",
    "icl_probe": "tunecast.icl_probe.run",
    "proxy_probe": "tunecast.proxy_probe.run",
    "passuntil_probe": "tunecast.passuntil_probe.run",
}
"""Run kind -> Celery task name (explicit names, so a module rename cannot orphan queued messages)."""
RUN_KINDS = tuple(RUN_TASKS)


@lru_cache(maxsize=8)
def _publisher(broker_url: str, settings_json: str) -> Celery:
    return create_celery(Settings.model_validate_json(settings_json))


def publisher(settings: Settings) -> Celery:
    """A Celery app for publishing on ``settings``' broker (cached per broker)."""
    return _publisher(settings.broker_url, settings.model_dump_json())


def enqueue_run(settings: Settings, *, run_id: str, kind: str, queue: str) -> None:
    """Publish ``run_id`` alone to ``queue``; call only after the run row is committed. The id of the
    request being handled travels as a message header, so the worker's log lines name it (``workers.logs``)."""
    request_id = request_id_var.get()
    publisher(settings).send_task(
        RUN_TASKS[kind],
        args=[run_id],
        queue=queue,
        headers={REQUEST_ID_HEADER: request_id} if request_id is not None else None,
        ignore_result=True,  # results live in the database; no result-backend round trip
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
    )


def recover_orphans(settings: Settings, queues: list[str] | None = None) -> int:
    """Re-queue the runs (of these queues; None: all) whose worker is gone and enqueue each once; returns how
    many went back. Every worker's heartbeat calls it, and each API process's sweep (``api/run_sweep.py``)
    for when no worker is alive; the claim is a conditional UPDATE, so only one of them enqueues a run."""
    with session_scope(settings.database_url) as session:
        orphaned = workers_repo.requeue_orphaned_runs(session=session, queues=queues)
    for run in orphaned:
        logger.warning("run %s re-queued on %s: %s", run.run_id, run.queue, run.reason)
        enqueue_run(settings, run_id=run.run_id, kind=run.kind, queue=run.queue)
    return len(orphaned)
