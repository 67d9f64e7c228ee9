"""What a log line says about where it came from: the HTTP request and the run it belongs to.

The API sets :data:`request_id_var` for each request (``api.request_ids``); a worker sets both variables
for the duration of a task from the message that queued it (``workers.logs``). Here, in ``storage``,
because both sides import it. :class:`JsonFormatter` writes them into every line when
``TUNECAST_LOG_FORMAT=json``, :class:`TextFormatter` at the end of a plain line (the default ``text``);
:func:`logging_config` is either set-up for ``logging.config.dictConfig`` (``tunecast serve`` and each of
its uvicorn processes).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["TEXT_FORMAT", "JsonFormatter", "TextFormatter", "log_ids", "logging_config", "request_id_var", "run_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("tunecast_request_id", default=None)
"""The id of the HTTP request being handled, or of the one that queued the run being executed."""
run_id_var: ContextVar[str | None] = ContextVar("tunecast_run_id", default=None)
"""The run a worker is executing."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_ids() -> dict[str, str]:
    """The request and the run the line being written belongs to: those set, by name."""
    ids = {"request_id": request_id_var.get(), "run_id": run_id_var.get()}
    return {name: value for name, value in ids.items() if value is not None}


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
        line.update(log_ids())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """A plain line whose message ends with ``[request_id=… run_id=…]`` when there are any: formatted as
    :data:`TEXT_FORMAT`, or by ``inner`` (Celery's formatters, which add their own fields)."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        ids = log_ids()
        if ids:  # a copy: other handlers format the record as it came
            suffix = " ".join(f"{name}={value}" for name, value in ids.items())
            record = logging.makeLogRecord(
                {**record.__dict__, "msg": f"{record.getMessage()} [{suffix}]", "args": None}
            )
        return self.inner.format(record) if self.inner is not None else super().format(record)


def logging_config(level: str, log_format: Literal["text", "json"]) -> dict[str, Any]:
    """Lines on stderr for every logger at ``level``, JSON or text, each naming its request and run;
    uvicorn's loggers (its access log too) lose their own handlers and pass through the root one, so their
    lines carry the request id as well."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {log_format: {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": log_format, "stream": "ext://sys.stderr"}
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
