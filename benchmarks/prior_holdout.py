"""Prior tier on the seed corpus: leave-one-task-out and leave-one-model-out error and 90 % coverage.

For each held-out group the prior is trained on every other row (no row of the group is seen) and
predicts the group. Baseline in the same process: the training rows' mean chance-normalised accuracy
mapped back per row ("predict the average"). Goal (issue 7): coverage 85–95 %.

Run: ``.venv/bin/python benchmarks/prior_holdout.py``
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from predictors.accuracy.corpus import load_seed_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation, chance_accuracy
from predictors.accuracy.prior import PriorPredictor
from storage.catalogs import load_models_catalog


def holdout(
    rows: list[Observation], builder: FeatureBuilder, group: Callable[[Observation], str], min_group: int = 5
) -> dict[str, float]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[group(row)].append(i)
    errors, baseline_errors, covered, n = [], [], 0, 0
    for members in groups.values():
        if len(members) < min_group:
            continue
        held = set(members)
        train = [r for i, r in enumerate(rows) if i not in held]
        test = [rows[i] for i in members]
        prior = PriorPredictor(random_state=0).fit(builder, train)
        mean, lower, upper = prior.predict_interval(test)
        actual = np.array([r.accuracy for r in test], dtype=float)
        chance = np.array([chance_accuracy(r.task_kind, r.n_choices) for r in test])
        train_norm = np.mean(
            [
                (r.accuracy - chance_accuracy(r.task_kind, r.n_choices))
                / (1 - chance_accuracy(r.task_kind, r.n_choices))
                for r in train
            ]
        )
        baseline = chance + (1 - chance) * train_norm
        errors.extend(np.abs(mean - actual))
        baseline_errors.extend(np.abs(baseline - actual))
        covered += int(np.sum((actual >= lower) & (actual <= upper)))
        n += len(test)
    return {
        "groups": float(sum(1 for m in groups.values() if len(m) >= min_group)),
        "rows": float(n),
        "mae": float(np.mean(errors)),
        "baseline_mae": float(np.mean(baseline_errors)),
        "coverage": covered / n,
    }


def main() -> int:
    rows = [r for r in load_seed_observations() if r.accuracy is not None]
    builder = FeatureBuilder({e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()})
    print(
        f"seed corpus: {len(rows)} rows, {len({r.task for r in rows})} tasks, {len({r.model_id for r in rows})} models"
    )
    for name, key in (("leave-one-task-out", lambda r: r.task), ("leave-one-model-out", lambda r: r.model_id)):
        started = time.perf_counter()
        result = holdout(rows, builder, key)
        elapsed = time.perf_counter() - started
        print(
            f"{name:20s} groups {int(result['groups']):3d}  rows {int(result['rows']):4d}  MAE {result['mae']:.4f}  "
            f"baseline MAE {result['baseline_mae']:.4f}  ratio {result['mae'] / result['baseline_mae']:.2f}  "
            f"90% coverage {100 * result['coverage']:.1f} %  ({elapsed:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
