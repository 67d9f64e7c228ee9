"""Plan and cost-model speed: 100,000-candidate plans in about a second (issue #15).

Each figure is measured against today's per-candidate cost path in the same process (``estimate_costs``,
one :class:`CostEstimate` per candidate, put in place of the vectorised columns), so the ratio says what
the array path buys:

1. service layer: a plan over a 10 × 10 × 5 × 200 grid (100,000 candidates) and over 10,000 candidates, and
   the budget staircase it serves (picks and runners-up) against the picks alone;
2. the cost model alone over the 100,000 candidates;
3. through HTTP in this process (the ASGI app, validation and the JSON response included): the
   100,000-candidate plan, and ``POST /v1/cost`` with 10,000 inline candidates;
4. against a real ``tunecast serve`` (a subprocess, over loopback): the same two requests end to end, the
   resident memory the 100,000-candidate plan adds to the service, and single-candidate ``POST /v1/cost``
   under 20 concurrent clients (p50 / p95 / p99).

Run: ``.venv/bin/python benchmarks/plan_speed.py`` (``--quick`` skips the per-candidate baselines of 100,000).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api import costing, planning  # noqa: E402
from api.app import create_app, freeze_start_up_objects  # noqa: E402
from api.catalog import prepare_database  # noqa: E402
from api.schemas.plans import PlanRequest  # noqa: E402
from predictors.cost import estimate_costs  # noqa: E402
from predictors.cost.columns import CostColumns, estimate_cost_columns  # noqa: E402
from predictors.planner import Budget, CandidateScores, budget_picks, pareto_frontier  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.settings import Settings  # noqa: E402

MODELS = [
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-7b",
    "llama-3.1-8b",
    "mistral-7b-v0.1",
    "gemma-2-9b",
    "phi-2",
    "smollm2-1.7b",
    "llama-3.2-1b",
    "olmo-7b",
]
METHODS: list[dict[str, Any]] = [
    *({"name": "lora", "rank": r} for r in (4, 8, 16, 32, 64)),
    {"name": "dora", "rank": 16},
    {"name": "ia3"},
    {"name": "full"},
    {"name": "icl", "shots": 8},
    {"name": "zero_shot"},
]
GPUS = [{"gpu": g, "count": 1} for g in ("H100-SXM", "H200", "A100-80GB", "L40S", "L4")]
TRAINING = [
    {"micro_batch_size": b, "seq_len": s, "epochs": e, "gradient_checkpointing": c}
    for b in (1, 2, 4, 8, 16)
    for s in (256, 512, 1024, 2048, 4096)
    for e in (1, 2, 3, 4)
    for c in (False, True)
]
TASK = {"name": "speed", "kind": "classification", "n_choices": 4, "train_examples": 10000}


def plan_body(n_training: int = len(TRAINING)) -> dict[str, Any]:
    grid = {"models": MODELS, "methods": METHODS, "hardware": GPUS, "training": TRAINING[:n_training]}
    return {"task": TASK, "grid": grid}


def cost_body(n: int, seed: int = 0) -> dict[str, Any]:
    """``n`` inline candidates of the kind a sweep script sends (models × methods × shapes × GPUs)."""
    rng = random.Random(seed)
    return {
        "candidates": [
            {
                "model": rng.choice(MODELS),
                "method": rng.choice(METHODS),
                "training": rng.choice(TRAINING),
                "hardware": rng.choice(GPUS),
            }
            for _ in range(n)
        ]
    }


def reference_cost_table(resolved: costing.ResolvedTable) -> CostColumns:
    """Today's per-candidate path: one ``estimate_cost`` per candidate, as columns."""
    calibration = resolved.calibration
    table = resolved.table
    estimates = estimate_costs(
        [table.candidate(i) for i in range(len(table))], hardware=resolved.hardware, calibration=calibration
    )
    return CostColumns.from_estimates(table, estimates, hardware=resolved.hardware, calibration=calibration)


@contextmanager
def per_candidate_costs() -> Iterator[None]:
    """Plans and ``POST /v1/cost`` on the per-candidate path (the baseline) while inside."""
    saved = planning.cost_table, costing.cost_table
    planning.cost_table = costing.cost_table = reference_cost_table  # type: ignore[assignment]
    try:
        yield
    finally:
        planning.cost_table, costing.cost_table = saved


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def line(label: str, seconds: float, baseline: float | None, goal: str) -> None:
    ratio = f"; per-candidate path {baseline:.2f} s, {baseline / seconds:.1f}x faster" if baseline else ""
    print(f"{label}: {seconds:.3f} s (goal {goal}){ratio}")


def service_layer(settings: Settings, quick: bool) -> None:
    request = PlanRequest.model_validate(plan_body())
    small = PlanRequest.model_validate(plan_body(20))
    with session_scope(settings.database_url) as session:
        planning.compute_plan(
            session, PlanRequest.model_validate({"task": TASK, "grid": {"models": MODELS[:1], "methods": METHODS[:1]}})
        )
        for label, req, goal in (
            ("plan, 100,000 candidates", request, "<= 1.0 s"),
            ("plan, 10,000 candidates", small, "< 2 s"),
        ):
            fast = min(timed(lambda req=req: planning.compute_plan(session, req)) for _ in range(3))
            slow = None
            if not quick or label.endswith("10,000 candidates"):
                with per_candidate_costs():
                    slow = timed(lambda req=req: planning.compute_plan(session, req))
            line(f"service layer, {label}", fast, slow, goal)
        resolved = planning._grid_table(session, request.grid, request.task)  # type: ignore[arg-type]
        calibration = resolved.calibration
        fast = min(
            timed(lambda: estimate_cost_columns(resolved.table, hardware=resolved.hardware, calibration=calibration))
            for _ in range(3)
        )
        slow = None if quick else timed(lambda: reference_cost_table(resolved))
        line(f"cost model alone, {len(resolved):,} candidates", fast, slow, "<= 0.3 s")
        print(f"  = {fast / len(resolved) * 1e6:.2f} µs per candidate (goal <= 3 µs)")
        budget_staircase(planning.evaluate_plan(session, request).result.scores)


def budget_staircase(scores: CandidateScores) -> None:
    """The served budget staircase (each step's pick and its runners-up, what the plan page's slider reads)
    against the pick staircase alone (the Pareto frontier, what it served before the runners-up)."""

    def picks_alone() -> None:
        members = np.flatnonzero(Budget().admits(scores.cost_usd, scores.gpu_hours))
        members[pareto_frontier(scores.cost_usd[members], scores.accuracy_mean[members])]

    alone = min(timed(picks_alone) for _ in range(20))
    served = min(timed(lambda: budget_picks(scores)) for _ in range(20))
    steps = budget_picks(scores)
    print(
        f"budget staircase with runners-up, {scores.n_candidates:,} fitting candidates ({len(steps)} steps, "
        f"{sum(len(s.runners_up) for s in steps)} runners-up): {served * 1e3:.1f} ms; the picks alone "
        f"{alone * 1e3:.1f} ms ({served / alone:.1f}x)"
    )


def in_process_http(settings: Settings, quick: bool) -> None:
    with TestClient(create_app(settings, prepare=False)) as client:
        plan, cost = plan_body(), cost_body(10_000)
        client.post("/v1/cost", json=cost_body(20))
        freeze_start_up_objects()  # as `tunecast serve` does

        def post(path: str, body: dict[str, Any]) -> None:
            response = client.post(path, json=body)
            assert response.status_code in {200, 201}, response.text[:300]

        fast = min(timed(lambda: post("/v1/plans", plan)) for _ in range(2))
        slow = None
        if not quick:
            with per_candidate_costs():
                slow = timed(lambda: post("/v1/plans", plan))
        line("HTTP in process, POST /v1/plans with 100,000 grid candidates", fast, slow, "<= 2.5 s")
        fast = min(timed(lambda: post("/v1/cost", cost)) for _ in range(2))
        with per_candidate_costs():
            slow = timed(lambda: post("/v1/cost", cost))
        line("HTTP in process, POST /v1/cost with 10,000 inline candidates", fast, slow, "<= 1.5 s")


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


@contextmanager
def real_server(data_dir: Path, *extra: str, prefix: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """``tunecast serve --no-worker`` with ``extra`` arguments, started with ``prefix`` (e.g. ``taskset``):
    its URL and pid once ``/healthz`` answers."""
    with socket_port() as port:
        env = {**os.environ, "TUNECAST_DATA_DIR": str(data_dir), "TUNECAST_LOG_LEVEL": "WARNING"}
        for name in ("TUNECAST_DATABASE_URL", "TUNECAST_BROKER_URL"):
            env.pop(name, None)
        command = [sys.executable, "-c", "from api.cli import app; app()", "serve", "--no-worker", "--port", str(port)]
        command += list(extra)
        process = subprocess.Popen(
            [*prefix, *command], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"tunecast serve did not start (exit {process.poll()})")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


def over_loopback(data_dir: Path) -> None:
    with real_server(data_dir) as (url, pid), httpx.Client(base_url=url, timeout=120) as client:
        client.post("/v1/cost", json=cost_body(20))
        client.post("/v1/plans", json=plan_body(20))
        rss_before, _ = _rss(pid)
        plan = plan_body()
        fast = min(timed(lambda: client.post("/v1/plans", json=plan).raise_for_status()) for _ in range(2))
        rss_after, peak = _rss(pid)
        line("real server, POST /v1/plans with 100,000 grid candidates, end to end", fast, None, "<= 2.5 s")
        print(
            f"  resident memory of the service: {rss_before / 2**20:.0f} MB before, {rss_after / 2**20:.0f} MB after "
            f"(+{(rss_after - rss_before) / 2**20:.0f} MB kept), peak {peak / 2**20:.0f} MB "
            f"(+{(peak - rss_before) / 2**20:.0f} MB while planning; goal <= 300 MB added)"
        )
        columns = timed(lambda: client.post("/v1/plans", params={"columns": "true"}, json=plan).raise_for_status())
        print(f"  the same with every candidate as columns (?columns=true): {columns:.3f} s")
        cost = cost_body(10_000)
        fast = min(timed(lambda: client.post("/v1/cost", json=cost).raise_for_status()) for _ in range(2))
        line("real server, POST /v1/cost with 10,000 inline candidates, end to end", fast, None, "<= 1.5 s")
    single_candidate_latencies(data_dir)


def single_candidate_latencies(data_dir: Path) -> None:
    """Single-candidate ``POST /v1/cost`` alone and under 20 concurrent clients, on one and on two API
    processes (``--workers 2``); the load generator shares the machine's two cores, so the same clients
    against ``GET /healthz`` (no work at all) are the baseline: what the harness and the framework alone
    cost at that load."""
    single = cost_body(1, seed=7)
    for processes in (1, 2):
        with real_server(data_dir, "--workers", str(processes)) as (url, _pid):
            concurrent_latencies(url, single, clients=4, requests=40)  # warm every process
            for label, interval in (("alone", None), ("back to back", 0.0), ("each sending 5 requests/s", 0.2)):
                clients = 1 if interval is None else 20
                latencies = concurrent_latencies(url, single, clients=clients, requests=600, interval_s=interval or 0.0)
                baseline = concurrent_latencies(url, None, clients=clients, requests=600, interval_s=interval or 0.0)
                print(
                    f"real server ({processes} API process{'es' if processes > 1 else ''}), single-candidate "
                    f"POST /v1/cost, {clients} client{'s' if clients > 1 else ''} {label}: {_quantiles(latencies)} "
                    f"(goal p95 <= 20 ms at 20 clients); GET /healthz the same way: {_quantiles(baseline)}"
                )


def _quantiles(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1e3:.1f} ms, p95 {q[94] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms"


def concurrent_latencies(
    url: str, body: dict[str, Any] | None, *, clients: int, requests: int, interval_s: float = 0.0
) -> list[float]:
    """Latencies of ``requests`` calls from ``clients`` threads (``POST /v1/cost`` with ``body``, or
    ``GET /healthz`` without one), each sending back to back (``interval_s`` 0) or one request every
    ``interval_s`` seconds (an open load of clients / interval_s per second)."""

    def worker(seed: int) -> list[float]:
        rng = random.Random(seed)
        seconds = []
        with httpx.Client(base_url=url, timeout=30) as client:
            start = time.perf_counter() + rng.uniform(0, interval_s)
            for k in range(requests // clients):
                if interval_s:
                    time.sleep(max(0.0, start + k * interval_s - time.perf_counter()))
                started = time.perf_counter()
                response = client.post("/v1/cost", json=body) if body is not None else client.get("/healthz")
                response.raise_for_status()
                seconds.append(time.perf_counter() - started)
        return seconds

    with ThreadPoolExecutor(clients) as pool:
        results = pool.map(worker, range(clients))
    return [s for chunk in results for s in chunk]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-candidate per-candidate baselines")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/t.db", broker_url=f"sqla+sqlite:///{tmp}/b.db"
        )
        prepare_database(settings)
        service_layer(settings, args.quick)
        in_process_http(settings, args.quick)
        over_loopback(Path(tmp) / "server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
