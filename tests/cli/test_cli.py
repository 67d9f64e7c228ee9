"""The console script, run as a user runs it: db upgrade, models list, and serve (API + embedded worker)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from storage.migrate import head_revision

REPO_ROOT = Path(__file__).resolve().parents[2]


def tunecast_command() -> list[str]:
    script = shutil.which("tunecast", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "api.cli"]


def run_cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir)}
    env.pop("TUNECAST_DATABASE_URL", None)
    env.pop("TUNECAST_BROKER_URL", None)
    return subprocess.run(
        [*tunecast_command(), *args], cwd=data_dir.parent, env=env, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_then_models_list(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    upgraded = run_cli(["db", "upgrade"], data_dir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"at revision {head_revision()}" in upgraded.stdout
    assert (data_dir / "tunecast.db").exists()
    listed = run_cli(["models", "list"], data_dir)
    assert listed.returncode == 0, listed.stderr
    assert "llama-3.1-8b" in listed.stdout and "8.03B" in listed.stdout
    assert int(listed.stdout.strip().splitlines()[-1].split()[0]) >= 40


def test_worker_rejects_unknown_queue(tmp_path: Path) -> None:
    result = run_cli(["worker", "--queues", "tpu"], tmp_path / "data")
    assert result.returncode == 2
    assert "queues must be gpu and/or cpu" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_serve_answers_models_and_starts_a_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir)}
    env.pop("TUNECAST_DATABASE_URL", None)
    env.pop("TUNECAST_BROKER_URL", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*tunecast_command(), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            models = None
            while time.monotonic() < deadline:
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/v1/models", params={"limit": 1000}, timeout=5)
                    if response.status_code == 200:
                        models = response.json()
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            assert models is not None, log_path.read_text(errors="replace")[-3000:]
            assert models["total"] >= 40
            for model in models["items"]:
                assert abs(model["total_params"] - model["published_params"]) <= 0.01 * model["published_params"]
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
            assert ready == {"database": "ok", "broker": "embedded"}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and b"ready." not in log_path.read_bytes():
                time.sleep(0.5)
            assert b"ready." in log_path.read_bytes(), "the embedded Celery worker did not report ready"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
