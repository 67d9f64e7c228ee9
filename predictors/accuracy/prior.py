"""The prior tier: a gradient-boosted regressor over capability, size, method and data, with intervals.

No probe is needed: milliseconds per candidate. The target is chance-normalised accuracy
(acc − chance)/(1 − chance), so tasks with different numbers of choices share one scale; intervals
come from out-of-fold residuals (CV+, Barber et al. 2021, "Predictive inference with the jackknife+",
Ann. Statist. 49(1), Sec. 3), which gives near-nominal coverage without distributional assumptions.

Two levels (issue #12 item 6, "a forecast moves only when evidence about it changes"). The boosters of the
*population* learn from the shipped corpus (published rows and own runs) and are fitted once per corpus and
process. A task the user measured gets boosters of its own, fitted on the corpus plus that task's
measurements and nothing of any other task's, so measurements of task B never touch task A's forecast.
A task never measured is forecast by the corpus's unseen-task booster shifted by the pooled effect of the
measured new tasks: each one's mean residual (per (model, method) pair) shrunk by κ = σ²_within /
τ²_between, the one-way random-effects estimate from the corpus's own leave-tasks-out residuals (e.g.
Gelman & Hill 2007, "Data Analysis Using Regression and Multilevel/Hierarchical Models", Sec. 12.3), then
pooled as one task among the corpus's, whose effect is zero by construction: 50 measurements of another
task move an unseen task's forecast by about 1/(corpus tasks + 1) of that task's shrunk effect.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
CachedT = TypeVar("CachedT")
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


def _pair_means(
    tasks: NDArray[np.str_], pairs: NDArray[np.str_], residuals: NDArray[np.float64]
) -> dict[str, list[float]]:
    """Per task, the mean residual of each (model, method) pair measured on it: repeated runs of one pair
    (seeds, data sizes) are one piece of evidence about the task, not many."""
    sums: dict[tuple[str, str], list[float]] = {}
    for task, pair, residual in zip(tasks, pairs, residuals, strict=True):
        if not math.isnan(residual):
            sums.setdefault((str(task), str(pair)), []).append(float(residual))
    by_task: dict[str, list[float]] = {}
    for (task, _), values in sorted(sums.items()):
        by_task.setdefault(task, []).append(sum(values) / len(values))
    return by_task


def _pair_ids(rows: Sequence[Observation]) -> NDArray[np.str_]:
    """Each row's (model, method name) pair as one string: the unit :func:`_pair_means` averages over."""
    return np.array([f"{o.model_id}\0{o.method.get('name')}" for o in rows])


def _shrinkage(residuals: NDArray[np.float64], tasks: NDArray[np.str_], pairs: NDArray[np.str_]) -> float:
    """κ = σ²_within / τ²_between of the leave-tasks-out residuals' pair means (the method of moments of a
    one-way random-effects model): how many measured pairs it takes for a task's own mean residual to
    weigh as much as the population's forecast."""
    by_task = [np.asarray(v) for v in _pair_means(tasks, pairs, residuals).values() if len(v) >= 2]
    if len(by_task) < 3:
        return MAX_TASK_SHRINKAGE
    within = sum(float(np.sum((v - v.mean()) ** 2)) for v in by_task) / sum(len(v) - 1 for v in by_task)
    means = np.array([v.mean() for v in by_task])
    between = float(np.var(means, ddof=1)) - float(np.mean([within / len(v) for v in by_task]))
    if between <= within / MAX_TASK_SHRINKAGE:
        return MAX_TASK_SHRINKAGE
    return within / between


def _cached(cache: OrderedDict[str, CachedT], kept: int, key: str, make: Callable[[], CachedT]) -> CachedT:
    """``cache[key]``, made by ``make()`` when absent (outside the lock: a fit takes seconds), least recently
    used first out past ``kept``."""
    with _CACHE_LOCK:
        value = cache.get(key)
    if value is None:
        value = make()
    with _CACHE_LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > kept:
            cache.popitem(last=False)
    return value


MAX_TASK_SHRINKAGE = 100.0
"""κ when the corpus shows no between-task variance: a task's own residuals then barely move its forecast."""
POPULATIONS_KEPT = 4
"""Population fits kept in this process, by corpus content and options (one corpus per database)."""


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


@dataclass(frozen=True, slots=True)
class _TaskModel:
    """A measured task's known-task booster, fitted on the corpus and that task's own measurements (nothing of
    any other task's), and its mean normalised accuracy over both (the booster's task-difficulty feature)."""

    model: Any
    task_mean: float


@dataclass(frozen=True, slots=True)
class _Population:
    """What the corpus alone fixes: the boosters, the interval half-widths and the task-effect shrinkage."""

    model: _TwoBoosters
    residual_quantile: float
    residual_quantile_unseen_task: float
    residual_quantile_unseen_model: float
    task_effect_shrinkage: float
    models_seen: frozenset[str]
    out_of_fold_mae: float
    task_stats: dict[str, tuple[float, int]]
    n_samples: int
    key: str
    base: NDArray[np.float64]
    y: NDArray[np.float64]
    tasks: NDArray[np.str_]


_POPULATIONS: OrderedDict[str, _Population] = OrderedDict()
TASK_MODELS_KEPT = 256
"""Measured tasks' boosters kept in this process, by population and the task's measurements."""
_TASK_MODELS: OrderedDict[str, _TaskModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()


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
    model_ : the fitted boosters, one for rows of known tasks and one for unseen tasks (from the corpus)
    residual_quantile_ : float
        Half-width of the interval on the normalised scale.
    task_effect_shrinkage_ : float
        κ = within-task / between-task residual variance: a task measured on n (model, method) pairs
        contributes n / (n + κ) of its mean residual to the pooled effect.
    task_models_ : dict
        Per measured task, its own boosters (the corpus plus its measurements) and its mean.
    unseen_task_effect_ : float
        The shift a task never measured takes (the measured new tasks' effect, pooled with the corpus's).
    n_samples_ : int
        Corpus rows plus measurements.
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
        _, inverse, counts = np.unique(tasks, return_inverse=True, return_counts=True)
        task_weight = len(y) / len(counts)
        unseen = self._fit_one(
            _without_task_descriptors(base),
            y,
            sample_weight=task_weight / counts[inverse],
            min_child_weight=self.min_tasks_per_leaf * task_weight,
            min_child_samples=1,
        )
        return _TwoBoosters(self._fit_known(base, tasks, y), unseen)

    def _fit_known(self, base: NDArray[np.float64], tasks: NDArray[np.str_], y: NDArray[np.float64]) -> Any:
        """The booster for rows of known tasks, each row fed its task's leave-one-out mean."""
        with_task = base.copy()
        with_task[:, TASK_MEAN_COLUMN] = _leave_one_out_means(list(tasks), y)
        return self._fit_one(with_task, y)

    def _quantile(self, residuals: NDArray[np.float64], default: float = math.nan) -> float:
        """The split-conformal quantile of |residuals| (NaN rows, never held out, left aside)."""
        finite = np.abs(residuals[~np.isnan(residuals)])
        n = len(finite)
        if n == 0:
            return default
        rank = min(math.ceil((n + 1) * self.interval), n)
        return float(np.sort(finite)[rank - 1])

    def _grouped_residuals(
        self,
        base: NDArray[np.float64],
        y: NDArray[np.float64],
        tasks: NDArray[np.str_],
        groups: NDArray[np.str_],
        rng: np.random.Generator,
    ) -> NDArray[np.float64]:
        """Out-of-fold residuals (measured − forecast) with whole groups (tasks or models) held out together,
        in row order (NaN for a row no fold held out)."""
        residuals = np.full(len(y), math.nan)
        unique = np.unique(groups)
        if len(unique) < 2:
            return residuals
        group_fold = {g: i % self.n_folds for i, g in enumerate(rng.permutation(unique))}
        row_folds = np.array([group_fold[g] for g in groups])
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
            residuals[held] = y[held] - model.predict(rows)
        return residuals

    def fit(
        self, builder: FeatureBuilder, corpus: Sequence[Observation], measurements: Sequence[Observation] = ()
    ) -> PriorPredictor:
        """Fit the boosters on ``corpus`` (each with ``accuracy``; one fit per distinct corpus and options in
        this process) and the task effects on ``measurements``.

        Two sets of out-of-fold residuals size the intervals: rows of tasks the corpus already knows
        (random folds) and rows of unseen tasks (folds grouped by task), so a forecast for a brand-new
        task gets the wider, honest interval; a task the corpus or its own measurements know gets the first.
        """
        population = self._population(builder, corpus)
        self.model_ = population.model
        self.residual_quantile_ = population.residual_quantile
        self.residual_quantile_unseen_task_ = population.residual_quantile_unseen_task
        self.residual_quantile_unseen_model_ = population.residual_quantile_unseen_model
        self.task_effect_shrinkage_ = population.task_effect_shrinkage
        self.models_seen_ = population.models_seen
        self.out_of_fold_mae_ = population.out_of_fold_mae
        self.task_stats_ = population.task_stats
        self.n_corpus_samples_ = population.n_samples
        self.population_ = population
        self.builder_ = builder
        self._fit_task_effects(measurements)
        return self

    def _population(self, builder: FeatureBuilder, corpus: Sequence[Observation]) -> _Population:
        # In a canonical order: equal corpora give equal boosters whatever order the rows came in.
        labelled = sorted((o for o in corpus if o.accuracy is not None), key=lambda o: repr(o.key()))
        if len(labelled) < 2 * self.n_folds:
            raise InvalidInputError(
                "measurements", f"the prior needs at least {2 * self.n_folds} measurements, got {len(labelled)}"
            )
        y = np.array([self._normalise(o) for o in labelled])
        tasks = np.array([o.task for o in labelled])
        base = builder.matrix(labelled)
        key = self._population_key(base, y, labelled)
        return _cached(_POPULATIONS, POPULATIONS_KEPT, key, lambda: self._fit_population(base, y, tasks, labelled, key))

    def _population_key(self, base: NDArray[np.float64], y: NDArray[np.float64], rows: Sequence[Observation]) -> str:
        options = {name: value for name, value in vars(self).items() if not name.endswith("_")}
        digest = hashlib.sha256(repr(sorted(options.items())).encode())
        for part in (base, y):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update("\0".join(f"{o.task}\0{o.model_id}\0{o.method.get('name')}" for o in rows).encode())
        return digest.hexdigest()

    def _fit_population(
        self,
        base: NDArray[np.float64],
        y: NDArray[np.float64],
        tasks: NDArray[np.str_],
        rows: Sequence[Observation],
        key: str,
    ) -> _Population:
        rng = np.random.default_rng(self.random_state)
        known_residuals = np.empty(len(y))
        folds = rng.permutation(len(y)) % self.n_folds
        for fold in range(self.n_folds):
            held = folds == fold
            model = self._fit_both(base[~held], tasks[~held], y[~held])
            stats = _task_stats(list(tasks[~held]), y[~held])
            held_rows = base[held].copy()
            held_rows[:, TASK_MEAN_COLUMN] = [_mean_of(stats, t) for t in tasks[held]]
            known_residuals[held] = np.abs(y[held] - model.predict(held_rows))

        pairs = _pair_ids(rows)
        unseen_task_residuals = self._grouped_residuals(base, y, tasks, tasks, rng)
        models = np.array([o.model_id for o in rows])
        unseen_model_residuals = self._grouped_residuals(base, y, tasks, models, rng)
        quantile = self._quantile(known_residuals)
        return _Population(
            model=self._fit_both(base, tasks, y),
            residual_quantile=quantile,
            residual_quantile_unseen_task=self._quantile(unseen_task_residuals, default=quantile),
            residual_quantile_unseen_model=self._quantile(unseen_model_residuals, default=quantile),
            task_effect_shrinkage=_shrinkage(unseen_task_residuals, tasks, pairs),
            models_seen=frozenset(models.tolist()),
            out_of_fold_mae=float(np.mean(known_residuals)),
            task_stats=_task_stats(list(tasks), y),
            n_samples=len(y),
            key=key,
            base=base,
            y=y,
            tasks=tasks,
        )

    def _fit_task_effects(self, measurements: Sequence[Observation]) -> None:
        """Each measured task's own boosters (the corpus plus that task's measurements, cached by both), and
        the effect an unseen task takes: the measured new tasks' mean residual against the unseen-task
        booster, each shrunk by κ and pooled as one task among the corpus's."""
        labelled = sorted((o for o in measurements if o.accuracy is not None), key=lambda o: repr(o.key()))
        self.n_samples_ = self.n_corpus_samples_ + len(labelled)
        self.task_models_: dict[str, _TaskModel] = {}
        self.unseen_task_effect_ = 0.0
        if not labelled:
            return
        y = np.array([self._normalise(o) for o in labelled])
        tasks = np.array([o.task for o in labelled])
        blind = self._population_forecast(labelled, blind=True)
        by_task = _pair_means(tasks, _pair_ids(labelled), y - blind)
        kappa = self.task_effect_shrinkage_
        new = {t: v for t, v in by_task.items() if t not in self.task_stats_}
        if new:
            shrunk = sum(sum(v) / (len(v) + kappa) for v in new.values())
            self.unseen_task_effect_ = float(shrunk / (len(self.task_stats_) + len(new)))
        rows_of: dict[str, list[Observation]] = {}
        for o in labelled:
            rows_of.setdefault(o.task, []).append(o)
        for task in by_task:
            self.task_models_[task] = self._task_model(task, rows_of[task], y[tasks == task])

    def _task_model(self, task: str, rows: Sequence[Observation], y: NDArray[np.float64]) -> _TaskModel:
        population = self.population_
        features = self.builder_.matrix(rows)
        digest = hashlib.sha256(population.key.encode())
        # the rows' features too: an edited model that only this task's rows use changes them
        for part in (features, y):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(repr([o.key() for o in rows]).encode())

        def fit() -> _TaskModel:
            base = np.vstack([population.base, features])
            all_tasks = np.concatenate([population.tasks, np.array([task] * len(rows))])
            all_y = np.concatenate([population.y, y])
            model = self._fit_known(base, all_tasks, all_y)  # its rows all have a task mean: no unseen booster
            return _TaskModel(model, float(np.mean(all_y[all_tasks == task])))

        return _cached(_TASK_MODELS, TASK_MODELS_KEPT, digest.hexdigest(), fit)

    def _population_forecast(self, observations: Sequence[Observation], *, blind: bool = False) -> NDArray[np.float64]:
        """The corpus's boosters' normalised forecast: a task of the corpus fed its corpus mean, every task
        as unseen with ``blind``."""
        task_means = [math.nan if blind else _mean_of(self.task_stats_, o.task) for o in observations]
        X = self.builder_.matrix(observations, task_means=task_means)  # noqa: N806
        return np.asarray(self.model_.predict(X), dtype=np.float64)

    def _normalised_forecast(
        self, observations: Sequence[Observation]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """(normalised forecast, whether the corpus or the task's own measurements know the task): a measured
        task's forecast is its own boosters', an unseen task's the corpus's shifted by the pooled effect."""
        normalised = np.empty(len(observations))
        known = np.array([o.task in self.task_stats_ or o.task in self.task_models_ for o in observations])
        by_task: dict[str, list[int]] = {}
        population: list[int] = []  # the rows of tasks the user never measured
        for i, o in enumerate(observations):
            (by_task.setdefault(o.task, []) if o.task in self.task_models_ else population).append(i)
        if population:  # tasks the user never measured: the corpus's boosters
            normalised[population] = self._population_forecast([observations[i] for i in population])
            normalised[population] += np.where(known[population], 0.0, self.unseen_task_effect_)
        for task, index in by_task.items():
            measured = self.task_models_[task]
            rows = [observations[i] for i in index]
            X = self.builder_.matrix(rows, task_means=[measured.task_mean] * len(rows))  # noqa: N806
            normalised[index] = measured.model.predict(X)
        return normalised, known

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
        normalised, known = self._normalised_forecast(observations)
        half_width = np.where(
            known, self.residual_quantile_, max(self.residual_quantile_, self.residual_quantile_unseen_task_)
        )
        unseen_model = np.array([o.model_id not in self.models_seen_ for o in observations], dtype=np.bool_)
        half_width = np.where(unseen_model, np.maximum(half_width, self.residual_quantile_unseen_model_), half_width)
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
