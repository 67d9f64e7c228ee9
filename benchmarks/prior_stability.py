"""The prior on issue #12's example grid: order, interval width and stability against unrelated evidence.

A new 4-class task with 5,000 training examples over qwen2.5-0.5b, mistral-7b-v0.1 and llama-3.1-8b, every
method of the grid, forecast by the prior trained on the shipped corpus (published rows and own runs).
Printed: each forecast; whether llama-3.1-8b is ever forecast below qwen2.5-0.5b for the same method, and
8B LoRA against 0.5B QLoRA; the median 90 % interval width of the fine-tunes; the retraining noise (the
largest move when the same corpus is refitted with another seed), the task-resampling noise (the move
when one of the corpus's tasks is left out, each in turn: how much the forecast of an unseen task rests on
which tasks the corpus happens to hold) and the largest move when 50 measurements of an unrelated task
(random accuracies, three draws) join the corpus. Last, whether close neighbours in the corpus (other
tasks measured with the same model and method, or this task with the same model or method) go with smaller
errors: out-of-fold |residuals| of the prior by neighbour count, the evidence an interval that narrows near
neighbours would need (issue #12 item 4).

Run: ``.venv/bin/python benchmarks/prior_stability.py``
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.factories, run from anywhere

from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation
from predictors.accuracy.prior import PriorPredictor
from predictors.methods import METHODS
from storage.catalogs import load_models_catalog
from tests.factories import ISSUE_12_METHODS, issue_12_grid, unrelated_task

GRID_METHODS = (*ISSUE_12_METHODS[:-1], {"name": "prefix_tuning"}, ISSUE_12_METHODS[-1])  # and prefix tuning
CATALOG = {e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()}


def fit(extra: list[Observation], seed: int = 0, corpus: Sequence[Observation] | None = None) -> PriorPredictor:
    rows = load_corpus_observations() if corpus is None else corpus
    return PriorPredictor(random_state=seed).fit(FeatureBuilder(CATALOG), rows, extra)


def task_resampling_moves(rows: list[Observation], mean: np.ndarray) -> dict[str, float]:
    """The largest move of the grid's forecasts with each corpus task left out in turn."""
    corpus = load_corpus_observations()
    tasks = sorted({o.task for o in corpus})
    return {
        t: float(np.max(np.abs(fit([], corpus=[o for o in corpus if o.task != t]).predict(rows) - mean))) for t in tasks
    }


def _q90(residuals: np.ndarray) -> float:
    rank = min(int(np.ceil((len(residuals) + 1) * 0.9)), len(residuals))
    return float(np.sort(residuals)[rank - 1])


def neighbour_breakdown(*, whole_tasks: bool) -> None:
    """Out-of-fold |error| (accuracy points) by how many close neighbours the training folds held: with
    ``whole_tasks`` (unseen task), the other tasks measured with the same model and method; else (known
    task) whether the task was measured with the same model and with the same method."""
    corpus = [o for o in load_corpus_observations() if o.accuracy is not None]
    rng = np.random.default_rng(0)
    if whole_tasks:
        names = sorted({o.task for o in corpus})
        fold_of = {t: i % 5 for i, t in enumerate(rng.permutation(names))}
        folds = np.array([fold_of[o.task] for o in corpus])
    else:
        folds = rng.permutation(len(corpus)) % 5
    errors, bins = np.empty(len(corpus)), np.empty(len(corpus), dtype=object)
    for fold in range(5):
        train = [o for o, f in zip(corpus, folds, strict=True) if f != fold]
        held = np.flatnonzero(folds == fold)
        prior = fit([], corpus=train)
        errors[held] = np.abs(prior.predict([corpus[i] for i in held]) - [corpus[i].accuracy for i in held])
        pair_tasks = collections.defaultdict(set)
        for o in train:
            pair_tasks[(o.model_id, o.method["name"])].add(o.task)
            pair_tasks[(o.task, o.model_id)].add("model")
            pair_tasks[(o.task, o.method["name"])].add("method")
        for i in held:
            o = corpus[i]
            if whole_tasks:
                n = len(pair_tasks[(o.model_id, o.method["name"])])
                bins[i] = "0" if n == 0 else "1-2" if n <= 2 else "3-5" if n <= 5 else "6+"
            else:
                seen = [
                    k
                    for k in ("model", "method")
                    if pair_tasks[(o.task, o.model_id if k == "model" else o.method["name"])]
                ]
                bins[i] = "+".join(seen) or "neither"
    label = "unseen task: other tasks with the same model+method" if whole_tasks else "known task: also measured with"
    for name in sorted(set(bins)):
        chosen = bins == name
        tasks = len({corpus[i].task for i in np.flatnonzero(chosen)})
        print(
            f"  {label} {name:12s} rows {int(chosen.sum()):4d}  tasks {tasks:2d}  "
            f"MAE {float(errors[chosen].mean()):.3f}  90 % |error| {_q90(errors[chosen]):.3f}"
        )


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
    left_out = np.array(list(task_resampling_moves(rows, mean).values()))
    print(
        f"task-resampling noise (largest move, each of {len(left_out)} corpus tasks left out): "
        f"median {np.median(left_out):.3f}  quartiles {np.percentile(left_out, 25):.3f}-{np.percentile(left_out, 75):.3f}"
        f"  max {left_out.max():.3f}; adding the unrelated task moves less than leaving out "
        f"{np.mean(left_out[:, None] > np.asarray(moves)[None, :]) * 100:.0f} % of the tasks"
    )
    print("errors by close neighbours (out-of-fold, 5 folds):")
    neighbour_breakdown(whole_tasks=True)
    neighbour_breakdown(whole_tasks=False)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
