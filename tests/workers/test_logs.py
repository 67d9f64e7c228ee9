"""A real worker process with ``TUNECAST_LOG_FORMAT=json`` or ``text``: the lines it writes while executing a
run name the run and the HTTP request that queued it (text: at the end of Celery's own line format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.factories import embedded_settings
from tests.workers.test_runs_end_to_end import Worker, setup_task, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.timeout(200)
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_runs_worker_log_lines_name_the_request_that_queued_it(
    tmp_path: Path, tiny_model_dir: Path, log_format: str
) -> None:
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        task = setup_task(client)
        body = {
            "kind": "icl_probe",
            "task": task,
            "candidate": {
                "model": {"id": "tiny", "path": str(tiny_model_dir)},
                "method": {"name": "icl", "shots": 1},
                "training": {"micro_batch_size": 4, "seq_len": 64},
            },
        }
        posted = client.post("/v1/runs", json=body, headers={"X-Request-ID": "abc-123"})
        assert posted.status_code == 202, posted.text
        assert posted.headers["x-request-id"] == "abc-123"
        run_id = posted.json()["id"]
        worker = Worker(settings, tmp_path / "worker.log", env={"TUNECAST_LOG_FORMAT": log_format})
        try:
            done = wait_for(client, run_id, worker, until=lambda r: r["status"] not in {"queued", "running"})
        finally:
            worker.stop()
    assert done["status"] == "succeeded", done["error"]

    text = worker.log_path.read_text(errors="replace")
    if log_format == "text":
        of_the_run_text = [line for line in text.splitlines() if f"run_id={run_id}]" in line]
        assert of_the_run_text and all("[request_id=abc-123 run_id=" in line for line in of_the_run_text), text[-4000:]
        # Celery's task line keeps its own fields (the task's name and id) before the ids
        assert any("tunecast.icl_probe.run[" in line and "succeeded" in line for line in of_the_run_text)
        return
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines), text[-4000:]
    of_the_run = [line for line in lines if line.get("run_id") == run_id]
    assert of_the_run, text[-4000:]
    assert all(line.get("request_id") == "abc-123" for line in of_the_run)
    assert any("succeeded" in line["message"] for line in of_the_run)  # Celery's own line, inside the task
    assert not any(line.get("request_id") for line in lines if line.get("run_id") is None)  # cleared after it
