"""What a log line says about where it came from: the HTTP request and the run it belongs to.

The API sets :data:`request_id_var` for each request (``api.request_ids``); a worker sets both variables
for the duration of a task from the message that queued it (``workers.logs``). Here, in ``storage``,
because both sides import it. :class:`JsonFormatter` writes them into every line when
``TUNECAST_LOG_FORMAT=json``; :func:`json_logging_config` is that set-up for ``logging.config.dictConfig``
(``tunecast serve`` and each of its uvicorn processes).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "json_logging_config", "request_id_var", "run_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("tunecast_request_id", default=None)
"""The id of the HTTP request being handled, or of the one that queued the run being executed."""
run_id_var: ContextVar[str | None] = ContextVar("tunecast_run_id", default=None)
"""The run a worker is executing."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and
    ``request_id``, ``run_id``, ``exception`` when there are any. The ids are read when the record is
    formatted, which a stream handler does in the thread and context that logged it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, run_id = request_id_var.get(), run_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        if run_id is not None:
            line["run_id"] = run_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def json_logging_config(level: str) -> dict[str, Any]:
    """JSON lines on stderr for every logger at ``level``; uvicorn's loggers (its access log too) lose
    their own handlers and pass through the root one, so their lines carry the request id as well."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
