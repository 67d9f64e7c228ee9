"""The supervisor of ``tunecast serve``'s worker, on stand-in processes: restart with back-off, give up
saying why, stop the whole process group. (The real worker under ``tunecast serve`` is in
``tests/cli/test_cli.py``.)"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from api.embedded_worker import MAX_RESTARTS, EmbeddedWorker
from tests.processes import pid_alive


def _wait(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_that_keeps_dying_is_restarted_then_reported_gone() -> None:
    echo = io.StringIO()
    worker = EmbeddedWorker(
        [sys.executable, "-c", "import sys; print('ImportError: no module named torch'); sys.exit(3)"],
        echo=echo,
        backoff_s=0.01,
    )
    worker.start()
    try:
        _wait(lambda: worker.status()["state"] == "gone")
    finally:
        worker.stop()
    status = worker.status()
    assert status["restarts"] == MAX_RESTARTS + 1 and status["pid"] is None
    assert "exit code 3" in status["detail"] and "no module named torch" in status["detail"]
    assert echo.getvalue().count("embedded worker started") == MAX_RESTARTS + 1


def test_stop_ends_the_worker_and_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    worker = EmbeddedWorker([sys.executable, "-c", script], echo=io.StringIO())
    worker.start()
    _wait(lambda: marker.exists() and marker.read_text())
    parent, child = worker.status()["pid"], int(marker.read_text())
    assert worker.status()["state"] == "running"
    worker.stop()
    assert worker.status()["state"] == "stopped"
    for pid in (parent, child):
        _wait(lambda pid=pid: not pid_alive(pid))


def test_an_unavailable_worker_only_says_why() -> None:
    worker = EmbeddedWorker.unavailable("not started: the worker needs torch==2.13.0 (not installed)")
    worker.start()
    worker.stop()
    assert worker.status() == {
        "state": "unavailable",
        "pid": None,
        "restarts": 0,
        "detail": "not started: the worker needs torch==2.13.0 (not installed)",
    }
