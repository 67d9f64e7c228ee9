"""What a fine-tune that learns reaches, read from the model's own linear probe (issue #12 item 3).

A linear probe on a model's frozen features says what its representation supports on a task. COSMOS
(Wang et al. 2025, arXiv:2505.01449, Sec. 4.2) maps such a proxy to fine-tuned accuracy with an affine map
fitted across models on one task; with one model on a task there is nothing to fit there, so this map is
fitted across *tasks*: pairs of (linear-probe accuracy, accuracy of the fine-tune with the most data) of
one model on one task, from the shipped corpus and our own runs. It gives the "learned" level of the
pre-power mixture (:mod:`predictors.accuracy.tiers`) when no probe past the jump pins it.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from predictors.accuracy.features import PROXY_METHODS, TRAINING_ANCHOR_METHODS, Observation
from predictors.accuracy.phase import phase_steps
from predictors.errors import InvalidInputError, NotFittedError

__all__ = ["LinearProbeLevel", "corpus_probe_level", "probe_level_pairs"]

MIN_PAIRS = 3
"""Fewer (model, task) pairs fit a line exactly and say nothing about its error."""


class LinearProbeLevel:
    """Affine map a·(linear-probe accuracy) + b to the accuracy a fine-tune that learns reaches, with a
    split-conformal half-width from the pairs' leave-one-out residuals (Barber et al. 2021, the
    jackknife+: an interval whose coverage holds for a new pair drawn like these).

    Attributes
    ----------
    slope_, intercept_ : float
    half_width_ : float
        Half-width of the ``interval`` on the accuracy scale.
    n_pairs_ : int
    """

    def __init__(self, *, interval: float = 0.9) -> None:
        self.interval = interval

    def fit(self, probe_accuracy: ArrayLike, tuned_accuracy: ArrayLike) -> LinearProbeLevel:
        x, y = np.asarray(probe_accuracy, dtype=float), np.asarray(tuned_accuracy, dtype=float)
        if x.shape != y.shape or x.ndim != 1:
            raise InvalidInputError("probe_accuracy", "needs one tuned accuracy per probe accuracy")
        if len(x) < MIN_PAIRS or not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise InvalidInputError("probe_accuracy", f"needs at least {MIN_PAIRS} finite pairs, got {len(x)}")
        if np.ptp(x) < 1e-6:
            raise InvalidInputError("probe_accuracy", "all probes at one accuracy: no slope to fit")
        self.slope_, self.intercept_ = (float(v) for v in np.polyfit(x, y, 1))
        residuals = []
        for i in range(len(x)):
            keep = np.arange(len(x)) != i
            if np.ptp(x[keep]) < 1e-6:
                continue
            slope, intercept = np.polyfit(x[keep], y[keep], 1)
            residuals.append(abs(y[i] - (slope * x[i] + intercept)))
        ordered = np.sort(np.asarray(residuals))
        rank = min(math.ceil((len(ordered) + 1) * self.interval), len(ordered))
        self.half_width_ = float(ordered[rank - 1])
        self.n_pairs_ = len(x)
        return self

    def predict_interval(
        self, probe_accuracy: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(mean, lower, upper), clipped to [0, 1]."""
        if not hasattr(self, "slope_"):
            raise NotFittedError("LinearProbeLevel is not fitted yet; call fit first")
        mean = self.slope_ * np.asarray(probe_accuracy, dtype=float) + self.intercept_
        return np.clip(mean, 0, 1), np.clip(mean - self.half_width_, 0, 1), np.clip(mean + self.half_width_, 0, 1)


def probe_level_pairs(
    observations: Sequence[Observation], *, exclude_task: str | None = None, method: str | None = None
) -> list[tuple[float, float]]:
    """(linear-probe accuracy, accuracy of the fine-tune that went furthest), one per model and task that has
    both, ``exclude_task`` left out (a task's own forecast must not rest on its answer).

    The fine-tunes are ``method``'s runs (every training method's without one); "furthest" is the most
    examples, and among those the most learning-rate-scaled optimizer steps (:func:`phase_steps`): the level
    a fine-tune that learns reaches, not the mean with a one-epoch run, a quarter of the steps or a tenth of
    the rate that has not started learning (our own runs: fortune-theme LoRA on 128 examples, 0.78 at 48
    steps, 0.40 at 16, 0.42 at 12)."""
    names = {method} if method is not None else TRAINING_ANCHOR_METHODS
    groups: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for o in observations:
        if o.accuracy is not None and math.isfinite(o.accuracy) and o.task != exclude_task:
            groups[(o.model_id, o.task)].append(o)
    pairs = []
    for rows in groups.values():
        probes = [float(o.accuracy or 0.0) for o in rows if o.method.get("name") in PROXY_METHODS]
        tuned = [o for o in rows if o.method.get("name") in names and o.train_examples]
        if not probes or not tuned:
            continue
        most = max(int(o.train_examples or 0) for o in tuned)
        at_most = [(float(phase_steps(o) or 0.0), float(o.accuracy or 0.0)) for o in tuned if o.train_examples == most]
        furthest = max(steps for steps, _ in at_most)
        reached = [accuracy for steps, accuracy in at_most if steps == furthest]
        pairs.append((float(np.mean(probes)), float(np.mean(reached))))
    return sorted(pairs)


@functools.lru_cache(maxsize=64)
def corpus_probe_level(exclude_task: str, interval: float = 0.9, method: str | None = None) -> LinearProbeLevel | None:
    """The map fitted on the shipped corpus (published rows and own runs) without ``exclude_task``, on
    ``method``'s fine-tunes where they give :data:`MIN_PAIRS` pairs (methods reach different levels from
    one representation: IA3 0.10-0.30 below LoRA on five of our eight tasks), on every training method's
    otherwise; None with fewer pairs than that."""
    from predictors.accuracy.corpus import load_corpus_observations

    observations = load_corpus_observations()
    pairs = probe_level_pairs(observations, exclude_task=exclude_task, method=method)
    if len(pairs) < MIN_PAIRS:
        pairs = probe_level_pairs(observations, exclude_task=exclude_task)
    if len(pairs) < MIN_PAIRS:
        return None
    x, y = zip(*pairs, strict=True)
    try:
        return LinearProbeLevel(interval=interval).fit(x, y)
    except InvalidInputError:
        return None
