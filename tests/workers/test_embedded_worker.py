"""A real Celery worker process answers on the embedded SQLite broker and on the real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from api.cli import worker_command
from storage.settings import Settings, get_settings
from workers.app import create_celery

REPO_ROOT = Path(__file__).resolve().parents[2]


def redis_available() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "TUNECAST_DATA_DIR": str(settings.data_dir),
        "TUNECAST_DATABASE_URL": settings.database_url,
        "TUNECAST_BROKER_URL": settings.broker_url,
    }


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.integration)])
def broker_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "embedded":
        broker_url = f"sqla+sqlite:///{tmp_path}/broker.db"
    else:
        if not redis_available():
            pytest.skip("no Redis server answers at 127.0.0.1:6379")
        broker_url = "redis://127.0.0.1:6379/14"
        redis.Redis(host="127.0.0.1", port=6379, db=14).flushdb()
    yield Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/t.db", broker_url=broker_url)


@pytest.fixture
def worker_process(broker_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    for key, value in settings_env(broker_settings).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    command = worker_command("cpu", 1)
    get_settings.cache_clear()
    log = open(broker_settings.data_dir / "worker.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_worker_process_answers_a_task(broker_settings: Settings, worker_process: subprocess.Popen[bytes]) -> None:
    app = create_celery(broker_settings)
    result = app.send_task("tunecast.system.ping", queue="cpu")
    try:
        answer = result.get(timeout=240)  # a loaded 2-core machine can take minutes to start a worker
    except Exception as exc:
        log = (broker_settings.data_dir / "worker.log").read_text(errors="replace")
        raise AssertionError(f"worker did not answer: {exc!r}\n{log[-3000:]}") from exc
    assert answer["pong"] is True
    assert worker_process.poll() is None
