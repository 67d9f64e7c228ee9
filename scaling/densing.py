# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Densing law: loss law, loss-to-score sigmoid, effective parameters, density and its trend.

Notes
-----
Symbols → our names: N = ``n_params`` (non-embedding parameters of the reference models),
D = ``n_tokens`` (training tokens), L = conditional loss (nats/token), S = benchmark score
(same scale as the fit data), N̂ = ``effective_params``, ρ = ``density`` = N̂/N,
t = ``days`` since the Llama-1 release (2023-02-24), D0 = ``d0_tokens`` (default 1e12).

References
----------
.. [1] Xiao, C. et al. (2024). "Densing Law of LLMs". arXiv:2412.04315v2. Eq. (1) density
   ρ = N̂/N; Eq. (2) L = a N^-alpha + b D^-beta; Eq. (3) S = c / (1 + e^{-gamma (L - l)}) + d;
   Eq. (4) inversion with D0 = 1T tokens; Eq. (5) ln ρ_max = A t + B (A ≈ 0.007/day,
   doubling ≈ 3.3 months; Sec. 3.3: A ≈ 0.0073, R² = 0.912, ≈ 95 days).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import BaseLaw
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, as_vector, require_positive

__all__ = [
    "DensingLaw",
    "DensingLossLaw",
    "DensingTrendLaw",
    "LossScoreSigmoid",
    "density",
    "doubling_time_days",
    "effective_params",
    "envelope_mask",
    "loss_from_score",
]


class DensingLossLaw(BaseLaw):
    """Reference-model loss law L(N, D) = a N^-alpha + b D^-beta (Eq. 2, no constant E).

    ``x``: ``{"n_params": [...], "n_tokens": [...]}`` or an ``(n_points, 2)`` array;
    ``y``: conditional loss (nats per token, > 0).
    """

    name = "densing_loss"
    param_names = ("a", "alpha", "b", "beta")
    input_names = ("n_params", "n_tokens")

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        a, al, b, be = theta
        return np.asarray(a * np.exp(-al * np.log(X[:, 0])) + b * np.exp(-be * np.log(X[:, 1])), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        require_positive(X, [0, 1], self.input_names)
        if y is not None:
            require_positive(y.reshape(-1, 1), [0], ["y"], what="y")

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([0.0, 1e-3, 0.0, 1e-3]), np.array([np.inf, 3.0, np.inf, 3.0])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        m = float(np.mean(y))
        nN, nD = float(np.median(X[:, 0])), float(np.median(X[:, 1]))
        return [
            np.array([m / 2 * nN**al, al, m / 2 * nD**be, be])
            for al, be in ((0.3, 0.3), (0.1, 0.5), (0.5, 0.1), (0.2, 0.2))
        ]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return (
            np.array([g[0] / 100, 0.05, g[2] / 100, 0.05]),
            np.array([g[0] * 100, 0.8, g[2] * 100, 0.8]),
        )


class LossScoreSigmoid(BaseLaw):
    """Loss-to-score map S = c / (1 + e^{-gamma (L - l)}) + d (Eq. 3).

    ``x``: loss L (one number per point); ``y``: score. ``d`` is the lower asymptote,
    ``c + d`` the upper one; ``gamma < 0`` when the score rises as the loss falls. Also
    used for the separate continuous-to-accuracy step of Schaeffer et al. (2024).
    """

    name = "densing_score"
    param_names = ("c", "gamma", "l", "d")
    input_names = ("loss",)

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        c, g, l0, d = theta
        z = np.clip(-g * (X[:, 0] - l0), -700, 700)
        return np.asarray(c / (1 + np.exp(z)) + d, dtype=float)

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        span = float(np.ptp(y)) or 1.0
        return (
            np.array([0.0, -np.inf, -np.inf, float(np.min(y)) - 10 * span]),
            np.array([np.inf, np.inf, np.inf, np.inf]),
        )

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        lo, hi = float(np.min(y)), float(np.max(y))
        span = max(hi - lo, 1e-6)
        L = X[:, 0]
        mid = float(np.median(L))
        sc = 4.0 / max(float(np.ptp(L)), 1e-6)
        return [
            np.array([span * 1.1, -sc, mid, lo - 0.05 * span]),
            np.array([span * 2, -sc / 2, float(np.min(L)), lo]),
            np.array([span * 1.1, sc, mid, lo - 0.05 * span]),
        ]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        span = max(float(np.ptp(y)), 1e-6)
        sc = 10.0 / max(float(np.ptp(X[:, 0])), 1e-6)
        return (
            np.array([span * 0.5, -sc, float(np.min(X[:, 0])), float(np.min(y)) - span]),
            np.array([span * 3, sc, float(np.max(X[:, 0])), float(np.min(y))]),
        )


def loss_from_score(score: Any, score_params: Mapping[str, float]) -> FloatArray:
    """Invert Eq. 3: L̂(S) = l - (1/gamma) ln(c / (S - d) - 1).

    Raises
    ------
    ScalingInputError
        If a score lies outside the open range (d, c + d) of the sigmoid.
    """
    S = as_vector(score, what="score", law="densing")
    c, g, l0, d = (float(score_params[k]) for k in ("c", "gamma", "l", "d"))
    if c <= 0 or g == 0:
        raise ScalingInputError("score law needs c > 0 and gamma != 0 to invert", field="params")
    lo, hi = (d, c + d)
    bad = np.flatnonzero((S <= lo) | (S >= hi))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"score of point {i} is {S[i]:.6g}, outside the sigmoid's open range "
            f"({lo:.6g}, {hi:.6g}); the effective size is undefined there",
            field=f"x[{i}]",
        )
    return np.asarray(l0 - np.log(c / (S - d) - 1.0) / g, dtype=float)


def effective_params(
    score: Any,
    loss_params: Mapping[str, float],
    score_params: Mapping[str, float],
    *,
    d0_tokens: float = 1e12,
) -> FloatArray:
    """Effective parameter size N̂(S) = ((L̂(S) - b D0^-beta) / a)^(-1/alpha) (Eq. 4).

    Raises
    ------
    ScalingInputError
        If a score is outside the sigmoid range, or its loss is at or below the loss floor
        b·D0^-beta of the reference family at D0 tokens (N̂ would be infinite).
    """
    if not (math.isfinite(d0_tokens) and d0_tokens > 0):
        raise ScalingInputError("d0_tokens must be finite and > 0", field="options.d0_tokens")
    L = loss_from_score(score, score_params)
    a, al, b, be = (float(loss_params[k]) for k in ("a", "alpha", "b", "beta"))
    if a <= 0 or al <= 0:
        raise ScalingInputError("loss law must decrease in N (a > 0, alpha > 0) to invert", field="params")
    floor = b * d0_tokens ** (-be)
    bad = np.flatnonzero(L <= floor)
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"score of point {i} maps to loss {L[i]:.6g}, at or below the reference loss floor "
            f"b*D0^-beta = {floor:.6g} at D0 = {d0_tokens:g} tokens; no finite effective size",
            field=f"x[{i}]",
        )
    with np.errstate(over="ignore"):
        n_hat = ((L - floor) / a) ** (-1.0 / al)
    if not np.all(np.isfinite(n_hat)):
        i = int(np.flatnonzero(~np.isfinite(n_hat))[0])
        raise ScalingInputError(
            f"effective size of point {i} overflows (loss {L[i]:.6g} too close to the floor)",
            field=f"x[{i}]",
        )
    return np.asarray(n_hat, dtype=float)


def density(
    score: Any,
    n_params: Any,
    loss_params: Mapping[str, float],
    score_params: Mapping[str, float],
    *,
    d0_tokens: float = 1e12,
) -> FloatArray:
    """Capability density ρ = N̂(S) / N (Eq. 1)."""
    N = as_vector(n_params, what="n_params", law="densing")
    require_positive(N.reshape(-1, 1), [0], ["n_params"])
    n_hat = effective_params(score, loss_params, score_params, d0_tokens=d0_tokens)
    if n_hat.shape != N.shape:
        raise ScalingInputError("score and n_params lengths differ", field="points")
    return n_hat / N


def doubling_time_days(slope_per_day: float) -> float:
    """Doubling time ln 2 / A of ρ_max for the Eq. 5 slope A (per day)."""
    if not slope_per_day > 0:
        raise ScalingInputError(
            f"density slope must be > 0 for a doubling time, got {slope_per_day!r}",
            field="params.A",
        )
    return math.log(2.0) / slope_per_day


def envelope_mask(days: Any, density_values: Any) -> NDArray[np.bool_]:
    """Running-maximum envelope: models that set a new density record by release date.

    The paper fits "the envelope line" without stating the rule; this is our documented
    reading (ties on the same day keep the densest model).
    """
    t = as_vector(days, what="days", law="densing")
    r = as_vector(density_values, what="density", law="densing")
    order = np.lexsort((-r, t))
    keep = np.zeros(t.size, dtype=bool)
    best = -np.inf
    for i in order:
        if r[i] > best:
            keep[i] = True
            best = r[i]
    return keep


class DensingTrendLaw(BaseLaw):
    """Density trend ln ρ_max = A t + B (Eq. 5); ρ(t) = exp(A t + B).

    ``x``: days since the Llama-1 release; ``y``: density (> 0). Fitted by least squares on
    ln ρ. With ``envelope="running_max"`` only the running-maximum models are used
    (:func:`envelope_mask`); ``"all"`` uses every point.

    Attributes
    ----------
    doubling_time_days_ : float
        ln 2 / A.
    r2_ : float
        R² of the fit on ln ρ over the points used (the paper's 0.912 / 0.93 are on the
        envelope).
    envelope_mask_ : ndarray of bool
        Which points were used.
    """

    name = "densing_trend"
    param_names = ("A", "B")
    input_names = ("days",)

    def __init__(self, *, envelope: str = "running_max", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.envelope = envelope

    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> DensingTrendLaw:
        """Fit ln ρ = A t + B on the envelope (or all) points; returns self."""
        if self.envelope not in ("running_max", "all"):
            raise ScalingInputError(
                f"envelope must be 'running_max' or 'all', got {self.envelope!r}",
                field="options.envelope",
            )
        X = self._design(x)
        yv = as_vector(y, what="y", law=self.name)
        if X.shape[0] != yv.size:
            raise ScalingInputError(f"x has {X.shape[0]} points but y has {yv.size}", field="points")
        self._check_domain(X, yv)
        mask = envelope_mask(X[:, 0], yv) if self.envelope == "running_max" else np.ones(yv.size, bool)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[mask]
        super().fit(X[mask], yv[mask], w)
        self.envelope_mask_ = mask
        return self

    def _postprocess(self, X: FloatArray, y: FloatArray) -> None:
        A = self.params_["A"]
        self.doubling_time_days_ = math.log(2.0) / A if A > 0 else math.inf
        ly = np.log(y)
        pred = np.log(self._model(self._theta_, X))
        ss_tot = float(np.sum((ly - ly.mean()) ** 2))
        self.r2_ = 1.0 - float(np.sum((ly - pred) ** 2)) / ss_tot if ss_tot > 0 else 1.0
        self.diagnostics_["doubling_time_days"] = self.doubling_time_days_
        self.diagnostics_["r2_log_density"] = self.r2_

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        return np.asarray(np.exp(np.clip(theta[0] * X[:, 0] + theta[1], -700, 700)), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        bad = np.flatnonzero(np.abs(X[:, 0]) > 1e5)
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"days of point {i} is {float(X[i, 0])}; expected days since the Llama-1 release within +/-1e5",
                field=f"points[{i}].x",
            )
        if y is not None:
            require_positive(y.reshape(-1, 1), [0], ["density"], what="y")

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        t, ly = X[:, 0], np.log(y)
        if np.ptp(t) > 0:
            A, B = np.polyfit(t, ly, 1)
        else:
            A, B = 0.0, float(np.mean(ly))
        return [np.array([A, B])]

    def _residual_fn(
        self, X: FloatArray, y: FloatArray, w: FloatArray, full0: FloatArray, free: NDArray[np.bool_]
    ) -> Any:
        sw, t, ly = np.sqrt(w), X[:, 0], np.log(y)

        def fun(th: FloatArray) -> FloatArray:
            full = full0.copy()
            full[free] = th
            return np.asarray(sw * (full[0] * t + full[1] - ly), dtype=float)

        return fun

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return g - np.abs(g) - 1e-3, g + np.abs(g) + 1e-3


_STAGES: dict[str, type[BaseLaw]] = {
    "loss": DensingLossLaw,
    "score": LossScoreSigmoid,
    "trend": DensingTrendLaw,
}


class DensingLaw(BaseLaw):
    """The densing law's three fitted stages behind one registry name (``"densing"``).

    Parameters
    ----------
    stage : {"loss", "score", "trend"}
        ``"loss"``: x = ``{"n_params", "n_tokens"}`` → conditional loss (Eq. 2).
        ``"score"``: x = loss → benchmark score (Eq. 3).
        ``"trend"``: x = days since Llama-1 → density (Eq. 5, running-max envelope).
    **kwargs
        Engine options (and ``envelope`` for the trend stage).

    See Also
    --------
    effective_params, density, doubling_time_days
    """

    name = "densing"

    def __init__(self, *, stage: str = "loss", envelope: str = "running_max", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.envelope = envelope

    def _impl(self) -> BaseLaw:
        if self.stage not in _STAGES:
            raise ScalingInputError(
                f"stage must be one of {sorted(_STAGES)}, got {self.stage!r}", field="options.stage"
            )
        engine = {k: v for k, v in self.get_params().items() if k not in ("stage", "envelope")}
        if self.stage == "trend":
            return DensingTrendLaw(envelope=self.envelope, **engine)
        return _STAGES[self.stage](**engine)

    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> DensingLaw:
        """Fit the selected stage; fitted attributes mirror that stage's estimator."""
        for attr in ("params_", "covariance_", "intervals_", "diagnostics_", "stage_estimator_"):
            if hasattr(self, attr):
                delattr(self, attr)
        est = self._impl().fit(x, y, sample_weight)
        self.stage_estimator_ = est
        self.params_ = est.params_
        self.covariance_ = est.covariance_
        self.intervals_ = est.intervals_
        self.diagnostics_ = dict(est.diagnostics_, stage=self.stage)
        return self

    def _adopt_params(self, params: Mapping[str, float]) -> tuple[str, ...]:
        for stage, klass in _STAGES.items():
            if set(params) == set(klass.param_names):
                self.stage = stage
                return klass.param_names
        raise ScalingInputError(
            "densing params must be one stage's set: "
            + "; ".join(f"{s}: {list(k.param_names)}" for s, k in _STAGES.items()),
            field="params",
        )

    @classmethod
    def from_params(cls, params: Mapping[str, float], *, covariance: Any = None, **options: Any) -> DensingLaw:
        """Predict-only estimator; the stage is inferred from the parameter names."""
        est = super().from_params(params, covariance=covariance, **options)
        est.stage_estimator_ = _STAGES[est.stage].from_params(params, covariance=covariance)
        return est

    def predict(self, x: Any) -> FloatArray:
        """Prediction of the fitted stage."""
        check_is_fitted(self)
        return self.stage_estimator_.predict(x)

    def predict_interval(self, x: Any, level: float | None = None) -> tuple[FloatArray, FloatArray]:
        """Confidence band of the fitted stage."""
        check_is_fitted(self)
        return self.stage_estimator_.predict_interval(x, level)

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        return self._impl()._model(theta, X)
