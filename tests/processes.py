"""Helpers for tests that run real processes: a free port, whether a pid still runs, waiting with a log."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

__all__ = ["free_port", "pid_alive", "wait_for"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, log: Path | None = None) -> Any:
    """``predicate()``'s first truthy value (HTTP errors count as not yet); fails saying ``what`` did not
    happen, with the end of ``log``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.HTTPError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-6000:] if log is not None and log.exists() else ""
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}\n{tail}")
