"""Helpers for tests that run real processes: a free port, whether a pid still runs, waiting with a log,
and ``tunecast serve`` itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from storage.settings import Settings

__all__ = ["LiveServer", "free_port", "pid_alive", "serving", "wait_for"]

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def served_settings(data_dir: Path) -> Settings:
    """The settings a :func:`serving` server runs on: its SQLite database and kombu broker in ``data_dir``
    (for a worker or a repository call beside it)."""
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=f"sqlite:///{(data_dir / 'tunecast.db').as_posix()}",
        broker_url=f"sqla+sqlite:///{(data_dir / 'broker.db').as_posix()}",
    )


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def database_url(self) -> str:
        """The server's own database (what a test reads or plays a worker's part through)."""
        return served_settings(self.data_dir).database_url


@contextmanager
def serving(
    data_dir: Path, *, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[LiveServer]:
    """``tunecast serve --no-worker`` from this checkout on a free loopback port with its own embedded
    database in ``data_dir``; SIGTERM (then SIGKILL) on exit."""
    port = free_port()
    log = data_dir / "server.log"
    settings = served_settings(data_dir)
    environment = {
        **os.environ,
        "TUNECAST_DATA_DIR": str(data_dir),
        "TUNECAST_DATABASE_URL": settings.database_url,
        "TUNECAST_BROKER_URL": settings.broker_url,
        "TUNECAST_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-c", "from api.cli import app; app()", "serve", "--no-worker", "--port", str(port)]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [*command, *args], cwd=REPO_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=log, process=process)
    try:
        wait_for(
            lambda: process.poll() is None and httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200,
            90,
            f"tunecast serve answering on {server.url}",
            log,
        )
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
