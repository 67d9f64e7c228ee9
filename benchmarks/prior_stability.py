"""The prior on issue #12's example grid: order, interval width and stability against unrelated evidence.

A new 4-class task with 5,000 training examples over qwen2.5-0.5b, mistral-7b-v0.1 and llama-3.1-8b, every
method of the grid, forecast by the prior trained on the shipped corpus (published rows and own runs).
Printed: each forecast; whether llama-3.1-8b is ever forecast below qwen2.5-0.5b for the same method, and
8B LoRA against 0.5B QLoRA; the median 90 % interval width of the fine-tunes; the retraining noise (the
largest move when the same corpus is refitted with another seed) and the largest move when 50
measurements of an unrelated task (random accuracies, three draws) join the corpus.

Run: ``.venv/bin/python benchmarks/prior_stability.py``
"""

from __future__ import annotations

import sys
import time

import numpy as np

from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.methods import METHODS
from storage.catalogs import load_models_catalog

MODELS = ("qwen2.5-0.5b", "mistral-7b-v0.1", "llama-3.1-8b")
GRID_METHODS = (
    {"name": "zero_shot"},
    {"name": "icl", "shots": 8},
    {"name": "lora", "rank": 16},
    {"name": "qlora", "rank": 16},
    {"name": "dora", "rank": 16},
    {"name": "ia3"},
    {"name": "prefix_tuning"},
    {"name": "full"},
)
CATALOG = {e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()}


def grid() -> list[Observation]:
    return [
        make_observation(
            model_id=model,
            method=method,
            task="support-intent",
            task_kind="classification",
            n_choices=4,
            training={"epochs": 2},
            task_train_examples=5000,
        )
        for model in MODELS
        for method in GRID_METHODS
    ]


def unrelated_task(seed: int, n: int = 50) -> list[Observation]:
    """``n`` measurements of another task at random accuracies, on random catalog models and grid methods."""
    rng = np.random.default_rng(seed)
    models = sorted(CATALOG)
    return [
        make_observation(
            model_id=models[int(rng.integers(len(models)))],
            method=GRID_METHODS[int(rng.integers(len(GRID_METHODS)))],
            task="another-task",
            task_kind="classification",
            n_choices=3,
            training={"epochs": 1, "train_examples": int(rng.choice([200, 1000, 4000]))},
            accuracy=float(rng.uniform(0.35, 0.95)),
            source="import:benchmark",
        )
        for _ in range(n)
    ]


def fit(extra: list[Observation], seed: int = 0) -> PriorPredictor:
    return PriorPredictor(random_state=seed).fit(FeatureBuilder(CATALOG), [*load_corpus_observations(), *extra])


def main() -> int:
    started = time.perf_counter()
    rows = grid()
    mean, lower, upper = fit([]).predict_interval(rows)
    at = {(o.model_id, o.method["name"]): i for i, o in enumerate(rows)}
    for o, m, lo, hi in zip(rows, mean, lower, upper, strict=True):
        print(f"{o.model_id:16s} {o.method['name']:14s} {m:.3f} [{lo:.3f}, {hi:.3f}]")
    below = [
        m["name"] for m in GRID_METHODS if mean[at[("llama-3.1-8b", m["name"])]] < mean[at[("qwen2.5-0.5b", m["name"])]]
    ]
    print(f"methods where llama-3.1-8b is forecast below qwen2.5-0.5b: {len(below)} of {len(GRID_METHODS)} {below}")
    gap = mean[at[("llama-3.1-8b", "lora")]] - mean[at[("qwen2.5-0.5b", "qlora")]]
    print(f"llama-3.1-8b LoRA minus qwen2.5-0.5b QLoRA: {gap:+.3f}")
    tuned = np.array([METHODS[o.method["name"]].kind == "finetune" for o in rows])
    print(f"median 90 % interval width of the fine-tunes: {float(np.median((upper - lower)[tuned])):.3f}")
    noise = [float(np.max(np.abs(fit([], seed=s).predict(rows) - mean))) for s in (1, 2, 3)]
    moves = [float(np.max(np.abs(fit(unrelated_task(s)).predict(rows) - mean))) for s in (1, 2, 3)]
    print(f"retraining noise (largest move, seeds 1-3): {' '.join(f'{v:.3f}' for v in noise)}")
    print(f"largest move with 50 measurements of an unrelated task (3 draws): {' '.join(f'{v:.3f}' for v in moves)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
