"""A worker says who it is and that it is alive, and puts back the runs of workers that died.

Celery signals in the worker's main process: at ``worker_init`` (before the pool forks) it draws a boot
id, which the pool children inherit and record on every run they take; at ``worker_ready`` it writes its
row (queues, host, versions, model roots and the models it can load, hardware) and starts a thread that
beats every few seconds (at most a third of ``TUNECAST_RUN_LEASE_S``) and re-queues runs, of any queue,
whose lease lapsed or whose worker is gone (:mod:`storage.repositories.workers`), and deletes the
checkpoints of runs that ended; at ``worker_shutdown`` it says it stopped. The embedded broker never
redelivers a message whose worker died, and Redis only after its visibility timeout: the re-queue is
what makes a dead worker lose nothing (and the checkpoint what makes it lose little).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import threading
import uuid
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from storage.db import forget_inherited_engines, session_scope
from storage.model_files import local_models
from storage.repositories import workers as workers_repo
from storage.settings import Settings, get_settings
from workers.checkpoints import prune_checkpoints

__all__ = ["BOOT_ID", "current_worker", "heartbeat_interval_s", "versions"]

logger = logging.getLogger("tunecast.workers")

BOOT_ID = uuid.uuid4().hex
"""This process's boot id (redrawn at ``worker_init``; forked pool children inherit it)."""

_state: dict[str, Any] = {"name": None, "queues": [], "stop": threading.Event()}


def current_worker() -> tuple[str | None, str]:
    """(Celery node name, boot id) of the worker this process belongs to; the name is None outside one."""
    return _state["name"], BOOT_ID


def versions() -> dict[str, str]:
    """Versions that decide what a run does: tunecast, Python and the ML stack."""
    found = {"python": platform.python_version()}
    for distribution in ("tunecast", "celery", "torch", "transformers", "peft", "gguf", "sentence-transformers"):
        try:
            found[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _queues(sender: Any) -> list[str]:
    try:
        return sorted(sender.app.amqp.queues.consume_from or sender.app.amqp.queues)
    except AttributeError:
        return []


@worker_init.connect  # type: ignore[untyped-decorator]
def _draw_boot_id(sender: Any = None, **_: Any) -> None:
    global BOOT_ID
    BOOT_ID = uuid.uuid4().hex
    _state["name"] = getattr(sender, "hostname", None)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _child_started(**_: Any) -> None:
    forget_inherited_engines()


def heartbeat_interval_s(settings: Settings) -> float:
    """Often enough that a lapsed lease is noticed within a third of it, and at most every 5 s."""
    return min(workers_repo.HEARTBEAT_INTERVAL_S, settings.run_lease_s / 3)


def _beat(name: str, stop: threading.Event) -> None:
    """Say this worker is alive; put back any run whose worker died (whoever notices first: a run of a
    queue no live worker serves then waits, honestly ``queued``); drop the checkpoints of ended runs."""
    # Not at the top: workers.dispatch imports workers.app, which imports this module.
    from workers.dispatch import recover_orphans

    settings = get_settings()
    while not stop.wait(heartbeat_interval_s(settings)):
        try:
            models = [m.as_dict() for m in local_models(settings).values()]
            with session_scope(settings.database_url) as session:
                if not workers_repo.heartbeat(session=session, name=name, boot_id=BOOT_ID, models=models):
                    logger.warning("worker %s: its row was taken by a newer process; heartbeat stops", name)
                    return
            recover_orphans(settings)
            prune_checkpoints(settings)
        except Exception:
            logger.exception("worker %s: heartbeat failed", name)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _announce(sender: Any = None, **_: Any) -> None:
    from workers.dispatch import recover_orphans
    from workers.hardware import detect_hardware

    settings = get_settings()
    name = str(getattr(sender, "hostname", None) or _state["name"] or f"worker@{platform.node()}")
    queues = _queues(sender)
    _state.update(name=name, queues=queues)
    models = [m.as_dict() for m in local_models(settings).values()]
    values: dict[str, Any] = {
        "boot_id": BOOT_ID,
        "hostname": platform.node(),
        "pid": os.getpid(),
        "queues": queues,
        "versions": versions(),
        "model_roots": [str(root) for root in settings.model_roots],
        "models": models,
        "hardware": detect_hardware().as_dict(),
    }
    with session_scope(settings.database_url) as session:
        workers_repo.register_worker(session=session, name=name, values=values)
    recovered = recover_orphans(settings)
    prune_checkpoints(settings)
    logger.warning(
        "tunecast worker %s registered (queues %s, %d local models, %d orphaned runs re-queued)",
        name,
        ",".join(queues),
        len(models),
        recovered,
    )
    stop: threading.Event = _state["stop"]
    threading.Thread(target=_beat, args=(name, stop), name="tunecast-heartbeat", daemon=True).start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _say_stopped(**_: Any) -> None:
    _state["stop"].set()
    name = _state["name"]
    if not name:
        return
    try:
        with session_scope(get_settings().database_url) as session:
            workers_repo.mark_stopped(session=session, name=name, boot_id=BOOT_ID, detail="shut down")
    except Exception:
        logger.exception("worker %s: could not record its shutdown", name)
