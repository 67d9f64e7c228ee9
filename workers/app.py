"""The Celery app, built from settings: Redis in production, the embedded SQLite broker by default.

Crash recovery (late ack + ``task_reject_on_worker_lost``): when a worker's pool process dies (SIGKILL,
the kernel's OOM killer) its main process rejects the message and it is requeued at once, on both
brokers. When the whole worker dies, Redis redelivers after the visibility timeout; the embedded SQLite
broker (kombu's SQLAlchemy transport) never does. On both, the run's lease lapses and the next worker to
notice puts it back in the queue (``workers.presence``); it resumes from its last checkpoint. A message
handed out twice (a visibility timeout shorter than the run) is refused by the live lease.

Task names are explicit (``tunecast.<module>.<verb>``) so a rename cannot orphan queued messages;
results live in the database, so Celery's result backend is off (``task_ignore_result``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from storage.settings import Settings, get_settings

__all__ = ["TASK_MODULES", "celery_app", "create_celery", "report_hardware", "result_backend_url"]

TASK_MODULES = [
    "workers.tasks",
    "workers.finetune",
    "workers.icl_probe",
    "workers.proxy_probe",
    "workers.passuntil_probe",
]

# A visibility timeout above the longest run: an unacked message is redelivered only after this.
VISIBILITY_TIMEOUT_S = 12 * 3600


def result_backend_url(settings: Settings) -> str:
    """Where the few tasks that return a value (``ping``) keep it: Redis beside a Redis broker, else a
    SQLite file in the data dir. Run results themselves live in tunecast's database."""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return f"db+sqlite:///{(settings.data_dir / 'celery-results.db').as_posix()}"


def create_celery(settings: Settings) -> Celery:
    if settings.broker_is_embedded:
        settings.ensure_data_dir()
    app = Celery("tunecast", broker=settings.broker_url, backend=result_backend_url(settings), include=TASK_MODULES)
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="cpu",
        task_queues_max_priority=None,
        broker_connection_retry_on_startup=True,
        # kombu's SQLAlchemy transport hands its options to create_engine, so only Redis gets them.
        broker_transport_options={} if settings.broker_is_embedded else {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
    )
    return app


celery_app = create_celery(get_settings())

logger = logging.getLogger("tunecast.workers")


@worker_ready.connect  # type: ignore[untyped-decorator]
def report_hardware(sender: Any = None, **_: Any) -> None:
    """Say what this worker runs on (GPU kind and memory, or CPU and RAM): runs predicted not to fit it
    are handed back to the queue (``workers.runtime``), and each run records it in its result."""
    from workers.hardware import detect_hardware

    hardware = detect_hardware()
    logger.warning(
        "tunecast worker %s ready: %s %s, %.1f GiB",
        hardware.hostname,
        hardware.device,
        hardware.name,
        hardware.memory_bytes / 2**30,
    )


import workers.logs  # noqa: E402  (its signal handlers: JSON lines, each task's request and run ids)
import workers.presence  # noqa: E402, F401  (its signal handlers: registration, heartbeat, orphaned runs)
