"""The console script, run as a user runs it: db upgrade, models list, and serve (API + embedded worker)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.migrate import head_revision
from tests.processes import free_port, pid_alive, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def tunecast_command() -> list[str]:
    script = shutil.which("tunecast", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "api.cli"]


def run_cli(args: list[str], data_dir: Path, *, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """``tunecast ARGS`` as a user runs it from ``data_dir``'s parent, on its own embedded database there."""
    env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir)}
    env.pop("TUNECAST_DATABASE_URL", None)
    env.pop("TUNECAST_BROKER_URL", None)
    return subprocess.run(
        [*tunecast_command(), *args], cwd=data_dir.parent, env=env, capture_output=True, text=True, timeout=timeout_s
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


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_serve_supervises_its_worker_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    """``tunecast serve`` as a user runs it: the API answers, the embedded worker registers (queues, models),
    a killed worker is restarted under a new boot id, and SIGTERM to the service alone stops the worker too
    (it runs in its own session, so only the service can stop it)."""
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir)}
    for name in ("TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL", "TUNECAST_MODEL_DIRS"):
        env.pop(name, None)
    log_path = tmp_path / "serve.log"
    worker_pids: list[int] = []
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
            models = wait_for(
                lambda: httpx.get(f"{url}/v1/models", params={"limit": 1000}, timeout=5).json(),
                120,
                "the API answers",
                log_path,
            )
            assert isinstance(models, dict) and models["total"] >= 40
            for model in models["items"]:
                assert abs(model["total_params"] - model["published_params"]) <= 0.01 * model["published_params"]

            def live_workers() -> list[dict[str, Any]]:
                return [w for w in httpx.get(f"{url}/v1/workers", timeout=5).json()["items"] if w["live"]]

            first = wait_for(live_workers, 180, "the embedded worker registers", log_path)
            assert isinstance(first, list) and len(first) == 1
            worker = first[0]
            worker_pids.append(worker["pid"])
            assert set(worker["queues"]) == {"cpu", "gpu"} and worker["versions"]["torch"].startswith("2.13.0")
            assert worker["model_roots"] == [str((data_dir / "models").absolute())]
            ready = httpx.get(f"{url}/readyz", timeout=5).json()
            assert (ready["database"], ready["broker"]) == ("ok", "embedded")
            assert ready["workers"]["live"] == 1 and ready["workers"]["queues"] == {"gpu": 1, "cpu": 1}
            embedded = ready["workers"]["embedded"]
            assert embedded["state"] == "running" and embedded["pid"] == worker["pid"]

            os.killpg(worker["pid"], signal.SIGKILL)  # the worker dies; the service restarts it
            restarted = wait_for(
                lambda: [w for w in live_workers() if w["pid"] != worker["pid"]],
                180,
                "the embedded worker is restarted",
                log_path,
            )
            assert isinstance(restarted, list)
            new_pid = restarted[0]["pid"]
            worker_pids.append(new_pid)
            assert restarted[0]["name"] == worker["name"]
            assert httpx.get(f"{url}/readyz", timeout=5).json()["workers"]["embedded"]["restarts"] == 1

            process.send_signal(signal.SIGTERM)  # the service alone, as systemd or a terminal would
            process.wait(timeout=60)
            wait_for(lambda: not pid_alive(new_pid), 30, "the embedded worker stops with tunecast serve", log_path)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            for pid in worker_pids:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def test_several_api_processes_need_no_embedded_worker(tmp_path: Path) -> None:
    result = run_cli(["serve", "--workers", "2"], tmp_path / "data")
    assert result.returncode == 2
    assert "--workers" in result.stderr and "--no-worker" in result.stderr


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_serve_with_two_api_processes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir)}
    for name in ("TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL"):
        env.pop(name, None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*tunecast_command(), "serve", "--no-worker", "--workers", "2", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(
                lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 200, 120, "the API answers", log_path
            )
            body = {"candidates": [{"model": "llama-3.1-8b", "method": {"name": "lora"}, "hardware": {"gpu": "H200"}}]}
            answers = {
                httpx.post(f"{url}/v1/cost", json=body, timeout=30).json()["results"][0]["step_time_s"]
                for _ in range(8)
            }
            assert len(answers) == 1  # both processes cost it alike
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
