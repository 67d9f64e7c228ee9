"""Run event streams on a real server: open streams hold no database connection and no thread, the
per-process limit answers 503 with Retry-After, a slot comes back when its client leaves, and SIGTERM
ends open streams (issue #14, bounded resources)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import tiny_llama_config
from tests.processes import LiveServer, serving, wait_for
from tests.workers.conftest import classification_rows, jsonl

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STREAMS = 20  # more than the 15 connections a pool lends (5 + 10 overflow)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with serving(tmp_path, env={"TUNECAST_MAX_EVENT_STREAMS": str(STREAMS)}) as live:
        yield live


def queued_run(client: httpx.Client, model_dir: Path) -> str:
    task = client.post("/v1/tasks", json={"name": "streams", "kind": "classification"}).json()["id"]
    uploaded = client.post(
        "/v1/datasets", files={"file": ("d.jsonl", jsonl(classification_rows()))}, data={"task": task}
    )
    assert uploaded.status_code == 201, uploaded.text
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(tiny_llama_config()))
    body = {
        "kind": "finetune",
        "task": task,
        "candidate": {"model": {"id": "tiny", "path": str(model_dir)}, "method": {"name": "lora", "rank": 4}},
        "options": {"steps": 3},
    }
    run = client.post("/v1/runs", json=body)
    assert run.status_code == 202, run.text
    return str(run.json()["id"])


class Watcher(threading.Thread):
    """One client following a run's events until the stream ends or it is told to leave."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.text, self.status = url, "", 0
        self.started, self.leave = threading.Event(), threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=60) as client, client.stream("GET", self.url) as response:
            self.status = response.status_code
            for chunk in response.iter_text():
                self.text += chunk
                self.started.set()
                if self.leave.is_set():
                    return
        self.started.set()


def test_open_streams_hold_no_connection_and_the_limit_answers_503(server: LiveServer, tmp_path: Path) -> None:
    client = httpx.Client(base_url=server.url, timeout=60)
    run_id = queued_run(client, tmp_path / "model")
    events = f"{server.url}/v1/runs/{run_id}/events"
    watchers = [Watcher(events) for _ in range(STREAMS)]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        assert watcher.started.wait(30) and watcher.status == 200

    # every stream waits between polls without a pooled connection: the API still answers
    for _ in range(10):
        assert client.get("/v1/models/qwen2.5-0.5b").status_code == 200
        assert client.get(f"/v1/runs/{run_id}").json()["status"] == "queued"

    refused = client.get(events, headers={"Accept": "text/event-stream"})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) > 0
    assert "TUNECAST_MAX_EVENT_STREAMS" in refused.json()["detail"] and "20" in refused.json()["detail"]

    # a client that leaves gives its slot back (noticed at its next keep-alive or poll)
    watchers[0].leave.set()
    watchers[0].join(30)
    replacement = wait_for(lambda: _new_stream(events), 40, "a stream slot freed by a client that left", server.log)
    watchers[1:] = [*watchers[1:], replacement]

    # cancelling the run ends every stream with the cancelled status, then `end`
    assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 202
    for watcher in watchers[1:]:
        watcher.join(30)
        assert not watcher.is_alive()
        statuses = _statuses(watcher.text)
        assert statuses[-1] == "cancelled" and "event: end" in watcher.text
    assert _statuses(replacement.text) == ["queued", "cancelled"]


def _new_stream(url: str) -> Watcher | None:
    watcher = Watcher(url)
    watcher.start()
    watcher.started.wait(30)
    return watcher if watcher.status == 200 else None


def _statuses(text: str) -> list[Any]:
    blocks = [block for block in text.split("\n\n") if "event: status" in block]
    return [json.loads(block.split("data: ", 1)[1])["status"] for block in blocks]


def test_sigterm_ends_open_streams(server: LiveServer, tmp_path: Path) -> None:
    client = httpx.Client(base_url=server.url, timeout=60)
    run_id = queued_run(client, tmp_path / "model")
    watchers = [Watcher(f"{server.url}/v1/runs/{run_id}/events") for _ in range(3)]
    for watcher in watchers:
        watcher.start()
        assert watcher.started.wait(30)
    server.process.terminate()
    server.process.wait(timeout=30)  # uvicorn re-raises SIGTERM once it is down
    assert "ASGI callable returned without completing response" not in server.log.read_text()
    for watcher in watchers:
        watcher.join(10)
        assert not watcher.is_alive()
        assert "retry: 1000" in watcher.text and _statuses(watcher.text) == ["queued"]
