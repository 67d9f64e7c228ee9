"""Plan speed: 10,000 candidates with prior-tier forecasts (goal: under 2 s), through the service layer.

Baseline in the same process: costing the same 10,000 candidates alone (the cost model), so the ratio
shows what forecasting and choosing add. The prior is trained once before timing (it is cached
between plans in the service).

Run: ``.venv/bin/python benchmarks/plan_speed.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from api.catalog import prepare_database
from api.costing import resolve_candidates
from api.planning import compute_plan
from api.schemas.plans import PlanRequest
from predictors.cost import estimate_costs
from storage.db import session_scope
from storage.settings import Settings


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/t.db")
        prepare_database(settings)
        models = [
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
        methods = [{"name": "lora", "rank": r} for r in (4, 8, 16, 32, 64)] + [
            {"name": "dora", "rank": 16},
            {"name": "ia3"},
            {"name": "full"},
            {"name": "icl", "shots": 8},
            {"name": "zero_shot"},
        ]
        hardware = [{"gpu": g, "count": 1} for g in ("H100-SXM", "H200", "A100-80GB", "L40S", "L4")]
        training = [
            {"micro_batch_size": b, "seq_len": s, "epochs": e}
            for b in (4, 8)
            for s in (256, 512, 1024, 2048)
            for e in (1, 2, 3, 4, 5)
        ]
        task = {"name": "speed", "kind": "classification", "n_choices": 4, "train_examples": 10000}
        request = PlanRequest.model_validate(
            {
                "task": task,
                "grid": {"models": models, "methods": methods, "hardware": hardware, "training": training[:20]},
            }
        )
        warm_up = PlanRequest.model_validate({"task": task, "grid": {"models": models[:1], "methods": methods[:1]}})
        n = len(request.expanded_candidates())
        with session_scope(settings.database_url) as session:
            compute_plan(session, warm_up)  # trains and caches the prior
            started = time.perf_counter()
            resolved = resolve_candidates(session=session, candidates=request.expanded_candidates())
            estimate_costs(resolved.candidates, hardware=resolved.hardware)
            cost_only = time.perf_counter() - started
            started = time.perf_counter()
            result, _ = compute_plan(session, request)
            plan_s = time.perf_counter() - started
        print(
            f"plan over {n} candidates (grid 10 models x 10 methods x 5 GPUs x 20 training configs): {plan_s:.2f} s "
            f"(goal < 2 s); cost model alone {cost_only:.2f} s; ratio plan/cost {plan_s / cost_only:.2f}"
        )
        print(
            f"tiers: {result['tiers']}; frontier {len(result['frontier'])} candidates; rows returned {len(result['candidates'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
