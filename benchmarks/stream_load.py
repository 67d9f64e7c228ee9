"""Event streams beside reads: ``GET /v1/models/{id}`` latency with 100 open ``/v1/runs/{id}/events`` streams
against the same reads with none, on one real ``tunecast serve`` process (issue #14: "100 open event
streams → GET /v1/models/{id} p95 unchanged, ≤ 50 ms").

Each stream follows a queued run that no worker takes (``--no-worker``), so it stays open, polling the
database every second for new events as a stream does. The reads are one client back to back.

    .venv/bin/python benchmarks/stream_load.py [--streams 100] [--reads 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_speed import real_server  # the benchmarks directory is not a package

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import tiny_llama_config  # the same tiny model the tests build

MODEL = "llama-3.1-8b"


def read_latencies(url: str, reads: int) -> list[float]:
    seconds = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(reads):
            started = time.perf_counter()
            client.get(f"/v1/models/{MODEL}").raise_for_status()
            seconds.append(time.perf_counter() - started)
    return seconds


def quantiles(seconds: list[float]) -> str:
    q = statistics.quantiles(seconds, n=100)
    return f"p50 {q[49] * 1e3:.1f} ms, p95 {q[94] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms"


def queued_run(client: httpx.Client, data_dir: Path) -> str:
    """A queued fine-tune no worker will take (a config-only model directory under the model root)."""
    model = data_dir / "models" / "tiny"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps(tiny_llama_config()))
    task = client.post("/v1/tasks", json={"name": "streams", "kind": "classification"}).json()["id"]
    rows = "".join(f'{{"text": "example {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(40))
    client.post("/v1/datasets", files={"file": ("d.jsonl", rows.encode())}, data={"task": task}).raise_for_status()
    body = {
        "kind": "finetune",
        "task": task,
        "candidate": {"model": {"id": "tiny", "path": str(model)}, "method": {"name": "lora", "rank": 4}},
        "options": {"steps": 3},
    }
    response = client.post("/v1/runs", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def hold_streams(url: str, run_id: str, count: int, stop: threading.Event) -> list[int]:
    """Open ``count`` streams on ``run_id``; their HTTP statuses once all answered."""
    opened = threading.Semaphore(0)
    statuses: list[int] = []

    def stream() -> None:
        with (
            httpx.Client(base_url=url, timeout=None) as client,
            client.stream("GET", f"/v1/runs/{run_id}/events") as events,
        ):
            statuses.append(events.status_code)
            opened.release()
            for _ in events.iter_lines():
                if stop.is_set():
                    return

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for _ in threads:
        opened.acquire(timeout=60)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--reads", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "server"
        with real_server(data_dir) as (url, _pid), httpx.Client(base_url=url, timeout=60) as client:
            run_id = queued_run(client, data_dir)
            read_latencies(url, 50)  # warm
            baseline = read_latencies(url, args.reads)
            stop = threading.Event()
            statuses = hold_streams(url, run_id, args.streams, stop)
            if statuses.count(200) != args.streams:
                raise SystemExit(
                    f"only {statuses.count(200)} of {args.streams} streams opened: {sorted(set(statuses))}"
                )
            time.sleep(2)  # every stream past its first poll
            loaded = read_latencies(url, args.reads)
            stop.set()
            ratio = statistics.quantiles(loaded, n=100)[94] / statistics.quantiles(baseline, n=100)[94]
            print(f"GET /v1/models/{MODEL}, no open streams: {quantiles(baseline)}")
            print(
                f"GET /v1/models/{MODEL}, {args.streams} open event streams: {quantiles(loaded)} "
                f"(p95 {ratio:.2f}x the baseline; goal p95 <= 50 ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
