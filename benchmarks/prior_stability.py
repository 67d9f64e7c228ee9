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
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation
from predictors.accuracy.prior import PriorPredictor
from predictors.methods import METHODS
from storage.catalogs import load_models_catalog
from tests.factories import ISSUE_12_METHODS, issue_12_grid, unrelated_task

GRID_METHODS = (*ISSUE_12_METHODS[:-1], {"name": "prefix_tuning"}, ISSUE_12_METHODS[-1])  # and prefix tuning
CATALOG = {e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()}


def fit(extra: list[Observation], seed: int = 0) -> PriorPredictor:
    return PriorPredictor(random_state=seed).fit(FeatureBuilder(CATALOG), [*load_corpus_observations(), *extra])


def main() -> int:
    started = time.perf_counter()
    rows = issue_12_grid(methods=GRID_METHODS)
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
    unrelated = [unrelated_task(s, methods=GRID_METHODS, source="import:benchmark") for s in (1, 2, 3)]
    moves = [float(np.max(np.abs(fit(extra).predict(rows) - mean))) for extra in unrelated]
    print(f"retraining noise (largest move, seeds 1-3): {' '.join(f'{v:.3f}' for v in noise)}")
    print(f"largest move with 50 measurements of an unrelated task (3 draws): {' '.join(f'{v:.3f}' for v in moves)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
