"""Plans under load with a large measurement store (issue #14, "Bounded resources").

Against a real ``tunecast serve`` (a subprocess, over loopback, ``tests.processes.serving``):

1. baseline: 100 concurrent ``POST /v1/plans`` (100 task names) on an empty store, while one client
   reads ``GET /v1/models/{id}`` back to back;
2. 10,000 measurements stored through ``POST /v1/measurements`` (batches of 1,000), 100 per plan task;
3. the same burst at once: the corpus changed, so the first plan starts the prior's refit in the
   background and the burst is answered by the last good prior;
4. the same burst once the refitted prior answers.

Each plan is a client that retries a 503 after its ``Retry-After`` (counted apart); anything else but a
201 is an error. Latency is per plan, from its first attempt to its answer, retries included. The GET
latencies are compared with the same GETs on an idle server (the ratio). The fit time of the prior on
the corpus plus the 10,000 rows is measured in this process for scale.

Run: ``.venv/bin/python benchmarks/plan_load.py`` (``--postgres URL`` serves from a throw-away database
on that server instead of the embedded SQLite; ``--workers N`` runs N API processes).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.processes import serving  # noqa: E402

N_PLANS = 100
N_MEASUREMENTS = 10_000
BATCH = 1_000
MODELS = ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "llama-3.1-8b", "llama-3.2-1b", "phi-2", "smollm2-1.7b"]
METHODS: list[dict[str, Any]] = [
    {"name": "lora", "rank": 8},
    {"name": "lora", "rank": 16},
    {"name": "full"},
    {"name": "icl", "shots": 8},
    {"name": "zero_shot"},
]


def plan_body(i: int) -> dict[str, Any]:
    return {
        "task": {"name": f"load-{i}", "kind": "classification", "n_choices": 4, "train_examples": 5000},
        "grid": {
            "models": ["qwen2.5-0.5b", "llama-3.1-8b"],
            "methods": [{"name": "lora", "rank": 16}, {"name": "icl", "shots": 8}, {"name": "zero_shot"}],
            "hardware": [{"gpu": "H100-SXM", "count": 1}],
            "training": [{"micro_batch_size": 4, "seq_len": 512, "epochs": 2}],
        },
    }


def measurements(seed: int = 0) -> Iterator[dict[str, Any]]:
    """``N_MEASUREMENTS`` imported results, ``N_MEASUREMENTS / N_PLANS`` per plan task."""
    rng = random.Random(seed)
    for k in range(N_MEASUREMENTS):
        method = rng.choice(METHODS)
        yield {
            "task": f"load-{k % N_PLANS}",
            "candidate": {
                "model": rng.choice(MODELS),
                "method": method,
                "training": {"train_examples": rng.choice([500, 1000, 5000]), "epochs": rng.choice([1, 2])},
            },
            "accuracy": round(rng.uniform(0.3, 0.9), 4),
            "eval_examples": 500,
            "source": "import:plan_load benchmark",
        }


@dataclass
class Burst:
    seconds: list[float] = field(default_factory=list)
    refused: int = 0  # 503 answers, each retried after its Retry-After
    errors: list[str] = field(default_factory=list)
    prior_rows: set[str] = field(default_factory=set)
    get_seconds: list[float] = field(default_factory=list)


def _plan(url: str, i: int, burst: Burst, lock: threading.Lock) -> None:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as client:
        while True:
            try:
                response = client.post("/v1/plans", json=plan_body(i))
            except httpx.HTTPError as exc:
                with lock:
                    burst.errors.append(f"{type(exc).__name__}: {exc}")
                return
            if response.status_code != 503:
                break
            with lock:
                burst.refused += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
    with lock:
        if response.status_code != 201:
            burst.errors.append(f"{response.status_code}: {response.text[:200]}")
            return
        burst.seconds.append(time.perf_counter() - started)
        burst.prior_rows |= {
            r["accuracy"]["predictor"] for r in response.json()["candidates"] if r["accuracy"]["tier"] == "prior"
        }


def model_reads(url: str, stop: threading.Event, into: list[float], *, n: int | None = None) -> None:
    """``GET /v1/models/{id}`` back to back until ``stop`` (or ``n`` times)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        k = 0
        while not stop.is_set() and (n is None or k < n):
            started = time.perf_counter()
            response = client.get(f"/v1/models/{MODELS[k % len(MODELS)]}")
            into.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/models answered {response.status_code}: {response.text[:200]}")
            k += 1


def burst(url: str) -> Burst:
    """``N_PLANS`` plans at once (one task each) and the model reads beside them."""
    result, lock, stop = Burst(), threading.Lock(), threading.Event()
    reader = threading.Thread(target=model_reads, args=(url, stop, result.get_seconds))
    reader.start()
    with ThreadPoolExecutor(N_PLANS) as pool:
        list(pool.map(lambda i: _plan(url, i, result, lock), range(N_PLANS)))
    stop.set()
    reader.join()
    return result


def _q(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def report(label: str, b: Burst, idle_get: list[float]) -> None:
    n_ok = len(b.seconds)
    plans = f"p50 {_q(b.seconds, 50):.2f} s, p95 {_q(b.seconds, 95):.2f} s, max {max(b.seconds):.2f} s" if n_ok else "-"
    get95, idle95 = _q(b.get_seconds, 95), _q(idle_get, 95)
    print(
        f"{label}: {n_ok}/{N_PLANS} plans answered, {len(b.errors)} errors, {b.refused} 503s retried; "
        f"plan latency {plans} (goal p95 <= 3 s); GET /v1/models/{{id}} p95 {get95 * 1e3:.1f} ms over "
        f"{len(b.get_seconds)} reads ({get95 / idle95:.1f}x its idle p95 {idle95 * 1e3:.1f} ms)"
    )
    print(f"  prior behind the prior-tier forecasts: {', '.join(sorted(b.prior_rows)) or '-'}")
    for error in b.errors[:5]:
        print(f"  error: {error}")


def seed(url: str) -> float:
    rows = list(measurements())
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as client:
        for k in range(0, len(rows), BATCH):
            client.post("/v1/measurements", json=rows[k : k + BATCH]).raise_for_status()
    return time.perf_counter() - started


def fit_time() -> float:
    """Seconds to fit the prior on the shipped corpus plus the benchmark's 10,000 rows, in this process."""
    from api.priors import fit_prior
    from predictors.accuracy.features import ModelInfo, make_observation
    from storage.catalogs import load_models_catalog

    models = {entry["id"]: ModelInfo.from_catalog(entry) for entry in load_models_catalog()}
    rows = [
        make_observation(
            model_id=m["candidate"]["model"],
            method=m["candidate"]["method"],
            task=m["task"],
            training=m["candidate"]["training"],
            accuracy=m["accuracy"],
        )
        for m in measurements()
    ]
    started = time.perf_counter()
    fit_prior(models, rows)
    return time.perf_counter() - started


def prior_of(url: str) -> str:
    """The predictor of a plan for a task without measurements: names the prior's number of rows."""
    plan = httpx.post(f"{url}/v1/plans", json=plan_body(N_PLANS), timeout=300).raise_for_status().json()
    return str(plan["candidates"][0]["accuracy"]["predictor"])


def prior_rows(predictor: str) -> int:
    """The number of measurements a ``lightgbm prior (N measurements)`` predictor names (0 for another)."""
    found = re.search(r"prior \((\d+) measurements\)", predictor)
    return int(found.group(1)) if found else 0


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tunecast_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(data_dir: Path, env: dict[str, str], workers: int) -> None:
    with serving(data_dir, env=env, args=("--workers", str(workers))) as server:
        url = server.url
        idle_get: list[float] = []
        model_reads(url, threading.Event(), [], n=50)  # warm
        model_reads(url, threading.Event(), idle_get, n=300)
        first_prior = prior_of(url)  # also fits the first prior, before any burst
        report("empty store (baseline)", burst(url), idle_get)
        print(f"stored {N_MEASUREMENTS:,} measurements in {seed(url):.1f} s ({N_MEASUREMENTS // BATCH} POSTs)")
        report("10,000 measurements, burst right after (prior refitting meanwhile)", burst(url), idle_get)
        # Each import refits in the background as a plan would, so a prior fitted on part of the rows may
        # answer first: wait for the one that names every row (the shipped corpus + all 10,000).
        started, deadline = time.perf_counter(), time.monotonic() + 900
        while prior_rows(prior_of(url)) < prior_rows(first_prior) + N_MEASUREMENTS and time.monotonic() < deadline:
            time.sleep(1)
        print(f"  the refitted prior answered {time.perf_counter() - started:.1f} s after that burst: {prior_of(url)}")
        report("10,000 measurements, refitted prior answering", burst(url), idle_get)
    print(f"the prior's fit on the corpus + {N_MEASUREMENTS:,} rows, in this process: {fit_time():.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="serve from a throw-away database on this server")
    parser.add_argument("--workers", type=int, default=1, help="API processes (tunecast serve --workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            with postgres_database(args.postgres) as database_url:
                run(Path(tmp), {"TUNECAST_DATABASE_URL": database_url}, args.workers)
        else:
            run(Path(tmp), {}, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
