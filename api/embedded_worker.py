"""The worker ``tunecast serve`` runs beside the API, supervised: restarted when it dies, stopped with it.

The worker is a child process in its own session (so stopping it reaches its pool processes too) that
also gets SIGTERM if the service dies without stopping it (Linux ``PR_SET_PDEATHSIG``). When it exits on
its own it is restarted after 1, 2, 4, 8, 16 s; after :data:`MAX_RESTARTS` exits within
:data:`RESTART_WINDOW_S` it is left down and :meth:`EmbeddedWorker.status` says why, with its last output
lines, which ``/readyz`` and ``GET /v1/workers`` show. A run it had started is re-queued by the next
worker (see :mod:`workers.presence`).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Literal

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW_S", "EmbeddedWorker"]

logger = logging.getLogger("tunecast.api")

MAX_RESTARTS = 5
RESTART_WINDOW_S = 600.0
STOP_GRACE_S = 10.0
TAIL_LINES = 40

State = Literal["starting", "running", "restarting", "gone", "stopped", "unavailable"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedWorker:
    """A supervised worker process; :meth:`status` is what the service reports about it."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        echo: IO[str] | None = None,
        backoff_s: float = 1.0,
    ):
        self.command = list(command)
        self.backoff_s = backoff_s
        self.env = env
        self.echo = echo if echo is not None else sys.stdout
        self.state: State = "stopped"
        self.detail: str | None = None
        self.pid: int | None = None
        self.exits: list[tuple[float, int]] = []  # (when, exit code) of exits not asked for
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._process: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def unavailable(cls, detail: str) -> EmbeddedWorker:
        """One that cannot start (its packages are missing): it reports why instead."""
        worker = cls([])
        worker.state, worker.detail = "unavailable", detail
        return worker

    def start(self) -> None:
        if self.state == "unavailable" or self._thread is not None:
            return
        self._stopping.clear()
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="tunecast-embedded-worker", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            self._process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self.pid = self._process.pid
            self.state = "running"
            self.detail = None
        self.echo.write(f"embedded worker started (pid {self.pid})\n")

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.tail.append(line.rstrip("\n"))
            with contextlib.suppress(OSError, ValueError):
                self.echo.write(line)

    def _supervise(self) -> None:
        while True:
            process = self._process
            assert process is not None
            self._pump(process)
            code = process.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            self.exits = [(t, c) for t, c in self.exits if now - t < RESTART_WINDOW_S] + [(now, code)]
            last = " | ".join(list(self.tail)[-5:])
            if len(self.exits) > MAX_RESTARTS:
                self.state = "gone"
                self.detail = (
                    f"exited {len(self.exits)} times within {RESTART_WINDOW_S / 60:.0f} minutes (last exit code "
                    f"{code}); not restarted. Last output: {last}"
                )
                logger.error("embedded worker is gone: %s", self.detail)
                return
            delay = self.backoff_s * 2.0 ** (len(self.exits) - 1)
            self.state = "restarting"
            self.detail = f"exited with code {code}; restarting in {delay:.3g} s. Last output: {last}"
            logger.warning("embedded worker %s", self.detail)
            if self._stopping.wait(delay):
                return
            self._spawn()

    def stop(self) -> None:
        """SIGTERM to the worker's whole process group; SIGKILL after :data:`STOP_GRACE_S`."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE_S)
        if process is not None:
            self._signal_group(process, signal.SIGKILL)  # pool children left behind by a cold stop
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_S)
            self._thread = None
        if self.state != "unavailable":
            self.state = "stopped"

    @staticmethod
    def _signal_group(process: subprocess.Popen[str], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid if self.state == "running" else None,
            "restarts": len(self.exits),
            "detail": self.detail,
        }
