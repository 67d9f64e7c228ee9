"""The JSON log formatter: one parseable object per line, with the ids only when they are set."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from storage.log_context import JsonFormatter, request_id_var, run_id_var


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad value")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("tunecast.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_line_has_time_level_logger_and_message_and_no_ids_when_none_is_set() -> None:
    record = _record("run %s: %s", "r1", 'a "quoted"\nsecond line')
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed == {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": "WARNING",
        "logger": "tunecast.test",
        "message": 'run r1: a "quoted"\nsecond line',
    }


def test_a_line_names_the_request_and_run_set_and_the_exception() -> None:
    request_token, run_token = request_id_var.set("abc-123"), run_id_var.set("run-1")
    try:
        line = JsonFormatter().format(_record("failed", exc=True))
    finally:
        request_id_var.reset(request_token)
        run_id_var.reset(run_token)
    parsed = json.loads(line)
    assert (parsed["request_id"], parsed["run_id"]) == ("abc-123", "run-1")
    assert parsed["exception"].startswith("Traceback") and "ValueError: bad value" in parsed["exception"]
