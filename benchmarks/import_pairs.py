"""What an imported result's out-of-sample forecast costs the import request (api/import_pairs.py).

``POST /v1/measurements`` through the ASGI app in this process, on a SQLite database with the prior
already fitted: 1,000 rows of one stored task (the bound, :data:`api.import_pairs.MAX_FORECASTS_PER_IMPORT`),
then the same 1,000 rows again (every pair already stored: no forecast), then 10,000 rows of which the
first 1,000 are forecast. Each against the same request with forecasting switched off (the bound set to 0)
in the same process, so the ratio is what the pairs add; each timed with the prior already fitted on the
corpus as it is (no refit running).

Run: ``.venv/bin/python benchmarks/import_pairs.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import api.import_pairs as import_pairs  # noqa: E402
from api.app import create_app  # noqa: E402
from api.priors import PRIORS  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.settings import Settings  # noqa: E402

TASK = {"name": "ticket-routing", "kind": "classification", "n_choices": 4, "train_examples": 5000}
MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b", "llama-3.2-1b", "llama-3.1-8b", "mistral-7b-v0.1", "gemma-2-9b")
METHODS: tuple[dict[str, Any], ...] = ({"name": "lora", "rank": 8}, {"name": "ia3"}, {"name": "full"})


def rows(n: int, *, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "task": TASK["name"],
            "candidate": {
                "model": MODELS[int(rng.integers(len(MODELS)))],
                "method": METHODS[int(rng.integers(len(METHODS)))],
                "training": {"train_examples": int(rng.choice([100, 300, 1000, 5000])), "epochs": 1},
            },
            "accuracy": float(rng.uniform(0.3, 0.9)),
            "seed": seed * 100_000 + i,
            "source": "import:benchmark",
        }
        for i in range(n)
    ]


def settled(database_url: str) -> None:
    """The prior fitted on the corpus as it is now, so a timed import neither starts nor shares the cores
    with a refit (in service, an import after a change starts the refit the next plan would start)."""
    with session_scope(database_url) as session:
        PRIORS.current(session)
    PRIORS.wait()


def timed(post: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one request: CPU time is what to compare on a loaded
    machine, as other processes stretch the wall time."""
    start, cpu = time.perf_counter(), time.process_time()
    response = post()
    elapsed, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    assert response.status_code == 201, response.text
    return elapsed, cpu_s


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="tunecast-import-pairs-"))
    settings = Settings(
        environment="test",
        data_dir=root,
        database_url=f"sqlite:///{(root / 'tunecast.db').as_posix()}",
        broker_url=f"sqla+sqlite:///{(root / 'broker.db').as_posix()}",
    )
    bound = import_pairs.MAX_FORECASTS_PER_IMPORT
    with TestClient(create_app(settings)) as client:
        client.post("/v1/tasks", json=TASK)
        client.post("/v1/measurements", json=rows(10, seed=0))  # the first prior fit, waited for once
        seed = 1
        for label, n, repeat in (
            ("1,000 new rows", 1000, False),
            ("the same 1,000 rows again", 1000, True),
            ("10,000 new rows", 10_000, False),
        ):
            figures = {}
            for forecast in (True, False):
                import_pairs.MAX_FORECASTS_PER_IMPORT = bound if forecast else 0
                body = rows(n, seed=seed)
                if repeat:
                    client.post("/v1/measurements", json=body)  # stored once (with pairs when forecast), untimed
                seed += 1
                settled(settings.database_url)
                figures[forecast] = timed(lambda body=body: client.post("/v1/measurements", json=body))
            (wall, cpu), (base_wall, base_cpu) = figures[True], figures[False]
            print(
                f"POST /v1/measurements, {label}: with out-of-sample forecasts {wall:.3f} s wall, {cpu:.3f} s CPU; "
                f"without {base_wall:.3f} s wall, {base_cpu:.3f} s CPU; {cpu / base_cpu:.2f}x CPU"
            )
        import_pairs.MAX_FORECASTS_PER_IMPORT = bound
        body = client.get("/v1/calibration").json()
        imports = next(s for s in body["sources"] if s["source"] == "import")
        print(f"pairs from imports stored: {imports['n']}")


if __name__ == "__main__":
    main()
