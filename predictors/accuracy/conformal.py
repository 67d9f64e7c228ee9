"""Intervals that keep their promise: split conformal calibration from verified predictions, per tier.

A forecast's interval says "90 %"; whether 90 % of runs land inside is measured on stored pairs of
(predicted mean and interval, measured accuracy). Normalised split conformal (Papadopoulos et al. 2008;
Lei et al. 2018, "Distribution-free predictive inference for regression", JASA 113, Sec. 2.2 and 5.2)
scores each pair by |measured − mean| / half-width and rescales every interval by the score's
⌈(n + 1)·level⌉-th smallest value, one calibration per tier (a Mondrian split: Vovk et al. 2005, Ch. 4),
so the level a request asks for is the coverage it gets on exchangeable held-out runs. ``crepes``
(Boström 2022) does the quantile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from predictors.accuracy.tiers import Accuracy
from predictors.errors import InvalidInputError

__all__ = ["ConformalIntervals", "held_out_coverage"]

MIN_HALF_WIDTH = 1e-3
"""Half-widths below this (a point forecast) are scored as this, so a score is finite."""
CALIBRATED_TIERS = ("prior", "probe")
"""Measured forecasts are the runs themselves; their range is not a forecast interval."""


def _half_widths(lower: NDArray[np.float64], upper: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum((upper - lower) / 2.0, MIN_HALF_WIDTH)


class ConformalIntervals:
    """Per-tier normalised split conformal recalibration of forecast intervals.

    Parameters
    ----------
    min_pairs : int
        Pairs a tier needs before it is recalibrated; tiers with fewer keep their intervals.

    Attributes
    ----------
    regressors_ : dict of str to crepes.ConformalRegressor
        One per calibrated tier.
    n_pairs_ : dict of str to int
    """

    def __init__(self, *, min_pairs: int = 10) -> None:
        self.min_pairs = min_pairs

    def fit(
        self, mean: ArrayLike, lower: ArrayLike, upper: ArrayLike, measured: ArrayLike, tiers: Sequence[str]
    ) -> ConformalIntervals:
        """Calibrate on verified pairs: predicted (mean, lower, upper), measured accuracy, predictor tier."""
        from crepes import ConformalRegressor  # type: ignore[import-untyped]

        m, lo, hi, y = (np.asarray(v, dtype=float) for v in (mean, lower, upper, measured))
        if not len(m) == len(lo) == len(hi) == len(y) == len(tiers):
            raise InvalidInputError("pairs", "mean, lower, upper, measured and tiers must have equal lengths")
        if not np.all(np.isfinite(np.concatenate([m, lo, hi, y]))):
            raise InvalidInputError("pairs", "every predicted and measured accuracy must be a finite number")
        tier_of = np.asarray(tiers, dtype=object)
        self.regressors_: dict[str, Any] = {}
        self.n_pairs_ = {str(t): int(np.sum(tier_of == t)) for t in sorted(set(tiers))}
        for tier in CALIBRATED_TIERS:
            rows = tier_of == tier
            if rows.sum() >= self.min_pairs:
                self.regressors_[tier] = ConformalRegressor().fit(
                    residuals=np.abs(y[rows] - m[rows]), sigmas=_half_widths(lo[rows], hi[rows])
                )
        return self

    def scale(self, tier: str, level: float) -> float | None:
        """The factor a ``tier``'s half-widths are multiplied by at ``level``, or None when not calibrated."""
        regressor = getattr(self, "regressors_", {}).get(tier)
        if regressor is None:
            return None
        band = regressor.predict_int(y_hat=np.zeros(1), sigmas=np.ones(1), confidence=level)
        return float(band[0, 1])

    def transform(
        self, mean: ArrayLike, lower: ArrayLike, upper: ArrayLike, tiers: Sequence[str], level: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lower, upper) at ``level``: mean ± scale·half-width in calibrated tiers (within [0, 1]), else as given."""
        if not 0.0 < level < 1.0:
            raise InvalidInputError("level", f"an interval level must be in (0, 1), got {level!r}")
        m, lo, hi = (np.asarray(v, dtype=float).copy() for v in (mean, lower, upper))
        tier_of = np.asarray(tiers, dtype=object)
        for tier in getattr(self, "regressors_", {}):
            factor = self.scale(tier, level)
            rows = tier_of == tier
            if factor is None or not rows.any():
                continue
            half = _half_widths(lo[rows], hi[rows]) * factor
            lo[rows] = np.clip(np.minimum(m[rows] - half, m[rows]), 0.0, 1.0)
            hi[rows] = np.clip(np.maximum(m[rows] + half, m[rows]), 0.0, 1.0)
        return lo, hi

    def apply(self, forecasts: Sequence[Accuracy], level: float) -> list[Accuracy]:
        """The forecasts with their intervals recalibrated at ``level`` (saying so, and keeping the raw one)."""
        tiers = [f.tier for f in forecasts]
        lower, upper = self.transform(
            [f.mean for f in forecasts], [f.lower for f in forecasts], [f.upper for f in forecasts], tiers, level
        )
        return [
            replace(
                f,
                lower=float(lo),
                upper=float(hi),
                level=level,
                predictor=f"{f.predictor}, conformal",
                raw_interval=f.raw_interval or (f.lower, f.upper),
            )
            if f.tier in getattr(self, "regressors_", {})
            else f
            for f, lo, hi in zip(forecasts, lower, upper, strict=True)
        ]


def held_out_coverage(
    mean: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    measured: ArrayLike,
    tiers: Sequence[str],
    *,
    level: float,
    n_folds: int = 5,
    min_pairs: int = 10,
) -> NDArray[np.float64]:
    """Whether each measured accuracy falls inside its interval as recalibrated from the *other* pairs
    (``n_folds`` interleaved folds in the given order): the coverage conformal intervals have on runs
    they were not calibrated on."""
    m, lo, hi, y = (np.asarray(v, dtype=float) for v in (mean, lower, upper, measured))
    tier_of = list(tiers)
    inside = np.empty(len(y))
    folds = np.arange(len(y)) % max(1, min(n_folds, len(y)))
    for fold in np.unique(folds):
        held, rest = folds == fold, folds != fold
        conformal = ConformalIntervals(min_pairs=min_pairs).fit(
            m[rest], lo[rest], hi[rest], y[rest], [t for t, r in zip(tier_of, rest, strict=True) if r]
        )
        new_lo, new_hi = conformal.transform(
            m[held], lo[held], hi[held], [t for t, h in zip(tier_of, held, strict=True) if h], level
        )
        inside[held] = (new_lo <= y[held]) & (y[held] <= new_hi)
    return inside
