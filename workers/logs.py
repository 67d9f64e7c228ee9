"""Worker logs: JSON lines when ``TUNECAST_LOG_FORMAT=json``, and every line a run's execution writes
names the run and the HTTP request that queued it (at the end of Celery's own text line otherwise).

Celery builds the worker's handlers itself (stderr, its levels, print output redirected to a logger);
these signals only swap their formatter, so both formats keep Celery's set-up. The ids are set in the
pool process around each task (``task_prerun`` to ``task_postrun``), from the ``request_id`` message
header ``workers.dispatch.enqueue_run`` sends; a retry's message carries the header on. Threads a task
starts (its lease renewal) begin with empty context variables, so their lines name neither.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun
from celery.utils.log import get_multiprocessing_logger

from storage.log_context import JsonFormatter, TextFormatter, request_id_var, run_id_var
from storage.settings import get_settings

__all__ = ["clear_task_ids", "format_with_ids", "set_task_ids"]


@after_setup_logger.connect  # type: ignore[untyped-decorator]
@after_setup_task_logger.connect  # type: ignore[untyped-decorator]
def format_with_ids(logger: logging.Logger | None = None, **_: Any) -> None:
    """Give Celery's handlers (the root's, ``celery.task``'s, multiprocessing's) the JSON formatter, or a
    text one that keeps Celery's line format and ends it with the ids."""
    if logger is None:
        return
    as_json = get_settings().log_format == "json"
    for configured in (logger, get_multiprocessing_logger()):
        for handler in configured.handlers:
            if not isinstance(handler.formatter, JsonFormatter | TextFormatter):
                handler.setFormatter(JsonFormatter() if as_json else TextFormatter(handler.formatter))


@task_prerun.connect  # type: ignore[untyped-decorator]
def set_task_ids(task: Any = None, args: Any = None, **_: Any) -> None:
    """The request that queued this task, and for a run task its ``run_id`` (the one argument)."""
    from workers.dispatch import REQUEST_ID_HEADER, RUN_TASKS  # imports workers.app, which imports this

    request_id = task.request.get(REQUEST_ID_HEADER) if task is not None else None
    request_id_var.set(request_id if isinstance(request_id, str) else None)
    run_id = args[0] if task is not None and task.name in RUN_TASKS.values() and args else None
    run_id_var.set(run_id if isinstance(run_id, str) else None)


@task_postrun.connect  # type: ignore[untyped-decorator]
def clear_task_ids(**_: Any) -> None:
    """The pool process's next lines (and next task) belong to no request or run."""
    request_id_var.set(None)
    run_id_var.set(None)
