"""The prior tier: a gradient-boosted regressor over capability, size, method and data, with intervals.

No probe is needed: milliseconds per candidate. The target is chance-normalised accuracy
(acc − chance)/(1 − chance), so tasks with different numbers of choices share one scale; intervals
come from out-of-fold residuals (CV+, Barber et al. 2021, "Predictive inference with the jackknife+",
Ann. Statist. 49(1), Sec. 3), which gives near-nominal coverage without distributional assumptions.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictors.accuracy.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    INCREASING_FEATURES,
    FeatureBuilder,
    ModelInfo,
    Observation,
    chance_accuracy,
)
from predictors.errors import InvalidInputError, NotFittedError

__all__ = ["NotFittedError", "PriorPredictor"]

TASK_MEAN_COLUMN = FEATURE_NAMES.index("task_mean_normalised_accuracy")
TASK_DESCRIPTOR_COLUMNS = [FEATURE_NAMES.index("task_kind"), FEATURE_NAMES.index("chance_accuracy")]
"""What the unseen-task booster does not see: split by kind and number of choices, ~30 corpus tasks leave
leaves of a handful of tasks that the next task of that kind sets; pooled, an unseen task's forecast is
better (leave-one-task-out MAE 0.166 → 0.150) and moves less when another task arrives (BENCHMARKS.md,
"Prior stability"). The normalised target already puts tasks with different chance levels on one scale."""
MONOTONE_CONSTRAINTS = [1 if name in INCREASING_FEATURES else 0 for name in FEATURE_NAMES]


def _task_stats(tasks: Sequence[str], y: NDArray[np.float64]) -> dict[str, tuple[float, int]]:
    stats: dict[str, tuple[float, int]] = {}
    for task, value in zip(tasks, y, strict=True):
        total, count = stats.get(task, (0.0, 0))
        stats[task] = (total + float(value), count + 1)
    return stats


def _mean_of(stats: dict[str, tuple[float, int]], task: str) -> float:
    total, count = stats.get(task, (0.0, 0))
    return total / count if count else math.nan


def _leave_one_out_means(tasks: Sequence[str], y: NDArray[np.float64]) -> list[float]:
    """Each row's task mean without the row itself (target encoding that does not see its own label)."""
    stats = _task_stats(tasks, y)
    means = []
    for task, value in zip(tasks, y, strict=True):
        total, count = stats[task]
        means.append((total - float(value)) / (count - 1) if count > 1 else math.nan)
    return means


@dataclass(frozen=True, slots=True)
class _TwoBoosters:
    """Rows with a task mean go to ``known``, rows of unseen tasks (NaN task mean) to ``unseen``."""

    known: Any
    unseen: Any

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:  # noqa: N803
        unseen = np.isnan(X[:, TASK_MEAN_COLUMN])
        out = np.empty(len(X))
        if (~unseen).any():
            out[~unseen] = self.known.predict(X[~unseen])
        if unseen.any():
            out[unseen] = self.unseen.predict(_without_task_descriptors(X[unseen]))
        return out


def _without_task_descriptors(X: NDArray[np.float64]) -> NDArray[np.float64]:  # noqa: N803
    blind = X.copy()
    blind[:, TASK_DESCRIPTOR_COLUMNS] = 0.0
    return blind


class PriorPredictor:
    """LightGBM regressor on :class:`FeatureBuilder` features; 90 % intervals by default.

    Parameters
    ----------
    interval : float
        Central coverage of the intervals.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM options.
    n_folds : int
        Folds for the out-of-fold residuals that size the intervals.
    min_tasks_per_leaf : float
        Tasks' worth of weight every leaf of the unseen-task booster pools (each task weighs alike).
    random_state : int

    Attributes
    ----------
    model_ : the fitted boosters, one for rows of known tasks and one for unseen tasks
    residual_quantile_ : float
        Half-width of the interval on the normalised scale.
    n_samples_ : int
    """

    def __init__(
        self,
        *,
        interval: float = 0.9,
        n_estimators: int = 400,
        learning_rate: float = 0.04,
        num_leaves: int = 15,
        min_child_samples: int = 5,
        n_folds: int = 5,
        min_tasks_per_leaf: float = 8.0,
        random_state: int = 0,
    ) -> None:
        self.interval = interval
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_folds = n_folds
        self.min_tasks_per_leaf = min_tasks_per_leaf
        self.random_state = random_state

    def _regressor(self) -> Any:
        import lightgbm

        return lightgbm.LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.9,
            subsample_freq=1,
            colsample_bytree=0.9,
            random_state=self.random_state,
            verbose=-1,
            # One thread and row-wise histograms: the same corpus gives the same booster on any machine.
            n_jobs=1,
            deterministic=True,
            force_row_wise=True,
            monotone_constraints=MONOTONE_CONSTRAINTS,
            monotone_constraints_method="intermediate",
        )

    def _fit_one(self, X: NDArray[np.float64], y: NDArray[np.float64], **options: Any) -> Any:  # noqa: N803
        weights = options.pop("sample_weight", None)
        regressor = self._regressor().set_params(**options)
        regressor.fit(X, y, sample_weight=weights, categorical_feature=list(CATEGORICAL_FEATURES))
        return regressor

    def _fit_both(self, base: NDArray[np.float64], tasks: NDArray[np.str_], y: NDArray[np.float64]) -> _TwoBoosters:
        """A booster for rows of known tasks (fed their task's leave-one-out mean) and one for unseen tasks.
        The unseen-task booster weighs every task alike and pools at least ``min_tasks_per_leaf`` tasks'
        weight in each leaf, so one task's rows, however many, cannot set the forecast of another task
        (issue #12 item 6): it is one task among the corpus's. It does not see the task's kind and chance
        level (:data:`TASK_DESCRIPTOR_COLUMNS`)."""
        with_task = base.copy()
        with_task[:, TASK_MEAN_COLUMN] = _leave_one_out_means(list(tasks), y)
        _, inverse, counts = np.unique(tasks, return_inverse=True, return_counts=True)
        task_weight = len(y) / len(counts)
        unseen = self._fit_one(
            _without_task_descriptors(base),
            y,
            sample_weight=task_weight / counts[inverse],
            min_child_weight=self.min_tasks_per_leaf * task_weight,
            min_child_samples=1,
        )
        return _TwoBoosters(self._fit_one(with_task, y), unseen)

    def _quantile(self, residuals: NDArray[np.float64]) -> float:
        n = len(residuals)
        rank = min(math.ceil((n + 1) * self.interval), n)
        return float(np.sort(residuals)[rank - 1])

    def _grouped_residuals(
        self,
        base: NDArray[np.float64],
        y: NDArray[np.float64],
        tasks: NDArray[np.str_],
        groups: NDArray[np.str_],
        rng: np.random.Generator,
    ) -> NDArray[np.float64]:
        """Out-of-fold |residuals| with whole groups (tasks or models) held out together."""
        unique = np.unique(groups)
        if len(unique) < 2:
            return np.empty(0)
        group_fold = {g: i % self.n_folds for i, g in enumerate(rng.permutation(unique))}
        row_folds = np.array([group_fold[g] for g in groups])
        residuals: list[float] = []
        held_out_tasks = groups is tasks
        for fold in range(min(self.n_folds, len(unique))):
            held = row_folds == fold
            if held.all() or not held.any():
                continue
            model = self._fit_both(base[~held], tasks[~held], y[~held])
            rows = base[held].copy()
            if not held_out_tasks:
                stats = _task_stats(list(tasks[~held]), y[~held])
                rows[:, TASK_MEAN_COLUMN] = [_mean_of(stats, t) for t in tasks[held]]
            residuals.extend(np.abs(y[held] - model.predict(rows)))
        return np.asarray(residuals, dtype=float)

    def fit(self, builder: FeatureBuilder, observations: Sequence[Observation]) -> PriorPredictor:
        """Fit on measured observations (each with ``accuracy``).

        Two sets of out-of-fold residuals size the intervals: rows of tasks the store already knows
        (random folds) and rows of unseen tasks (folds grouped by task), so a forecast for a brand-new
        task gets the wider, honest interval.
        """
        # In a canonical order: equal corpora give equal boosters whatever order the rows came in.
        labelled = sorted((o for o in observations if o.accuracy is not None), key=lambda o: repr(o.key()))
        if len(labelled) < 2 * self.n_folds:
            raise InvalidInputError(
                "measurements", f"the prior needs at least {2 * self.n_folds} measurements, got {len(labelled)}"
            )
        y = np.array([self._normalise(o) for o in labelled])
        tasks = np.array([o.task for o in labelled])
        base = builder.matrix(labelled)
        rng = np.random.default_rng(self.random_state)

        known_residuals = np.empty(len(labelled))
        folds = rng.permutation(len(labelled)) % self.n_folds
        for fold in range(self.n_folds):
            held = folds == fold
            model = self._fit_both(base[~held], tasks[~held], y[~held])
            stats = _task_stats(list(tasks[~held]), y[~held])
            held_rows = base[held].copy()
            held_rows[:, TASK_MEAN_COLUMN] = [_mean_of(stats, t) for t in tasks[held]]
            known_residuals[held] = np.abs(y[held] - model.predict(held_rows))

        unseen_task_residuals = self._grouped_residuals(base, y, tasks, tasks, rng)
        models = np.array([o.model_id for o in labelled])
        unseen_model_residuals = self._grouped_residuals(base, y, tasks, models, rng)

        self.residual_quantile_ = self._quantile(known_residuals)
        self.residual_quantile_unseen_task_ = (
            self._quantile(unseen_task_residuals) if unseen_task_residuals.size else self.residual_quantile_
        )
        self.residual_quantile_unseen_model_ = (
            self._quantile(unseen_model_residuals) if unseen_model_residuals.size else self.residual_quantile_
        )
        self.models_seen_ = frozenset(models.tolist())
        self.out_of_fold_mae_ = float(np.mean(known_residuals))
        self.model_ = self._fit_both(base, tasks, y)
        self.builder_ = builder
        self.task_stats_ = _task_stats(list(tasks), y)
        self.n_samples_ = len(labelled)
        return self

    def with_models(self, models: Mapping[str, ModelInfo]) -> PriorPredictor:
        """A view of this fitted prior that also knows ``models`` (inline architectures of a request);
        the fitted booster is shared, nothing is refitted."""
        check = getattr(self, "model_", None)
        if check is None:
            raise NotFittedError("PriorPredictor is not fitted yet; call fit first")
        view = copy.copy(self)
        view.builder_ = self.builder_.with_models(models)
        return view

    @staticmethod
    def _normalise(observation: Observation) -> float:
        chance = chance_accuracy(observation.task_kind, observation.n_choices)
        assert observation.accuracy is not None
        return (float(observation.accuracy) - chance) / (1.0 - chance)

    def predict_interval(
        self, observations: Sequence[Observation]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(mean, lower, upper) accuracies, clipped to [chance-floor 0, 1]."""
        if not hasattr(self, "model_"):
            raise NotFittedError("PriorPredictor is not fitted yet; call fit first")
        task_means = [_mean_of(self.task_stats_, o.task) for o in observations]
        X = self.builder_.matrix(observations, task_means=task_means)  # noqa: N806
        normalised = np.asarray(self.model_.predict(X), dtype=float)
        unseen_task = np.isnan(task_means)
        unseen_model = np.array([o.model_id not in self.models_seen_ for o in observations])
        half_width = np.full(len(observations), self.residual_quantile_)
        half_width = np.where(unseen_model, np.maximum(half_width, self.residual_quantile_unseen_model_), half_width)
        half_width = np.where(unseen_task, np.maximum(half_width, self.residual_quantile_unseen_task_), half_width)
        chance = np.array([chance_accuracy(o.task_kind, o.n_choices) for o in observations])
        scale = 1.0 - chance
        mean = chance + scale * normalised
        lower = chance + scale * (normalised - half_width)
        upper = chance + scale * (normalised + half_width)
        return (
            np.clip(mean, 0.0, 1.0),
            np.clip(np.minimum(lower, mean), 0.0, 1.0),
            np.clip(np.maximum(upper, mean), 0.0, 1.0),
        )

    def predict(self, observations: Sequence[Observation]) -> NDArray[np.float64]:
        return self.predict_interval(observations)[0]
