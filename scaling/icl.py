# ruff: noqa: N803 -- maths notation (N, D, X, K, ...) follows the papers
"""In-context-learning shot law (COSMOS Eq. 5) and its alternatives.

References
----------
.. [1] Wang, J., Albarghouthi, A., Sala, F. (2025). "COSMOS: Predictable and Cost-Effective
   Adaptation of LLMs". arXiv:2505.01449v1, Sec. 4.3, Eq. (5): pi(d) = alpha(1 - e^{-beta d})
   + pi_0, with pi_0 = min(zero-shot, 1-shot accuracy) and (alpha, beta) through the 1-shot
   and 8-shot probes; Appendix J (HellaSwag, Llama 3 8B) for the reproduced curve.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from scipy import optimize, stats  # type: ignore[import-untyped, unused-ignore]

from .base import BaseLaw, Solution, clone
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, as_vector, check_lengths
from .selection import select_form

__all__ = ["COSMOS_ICL_SD", "IclShotLaw", "ShotCurveAverage", "solve_cosmos_anchors"]

_FORMS: dict[str, tuple[str, ...]] = {
    "exponential": ("alpha", "beta", "pi0"),
    "power": ("a", "b", "pi0"),
    "loglinear": ("a", "b"),
}
_BETA_MAX = 50.0


def solve_cosmos_anchors(
    acc_low: float, acc_high: float, pi0: float, *, shots_low: float = 1.0, shots_high: float = 8.0
) -> tuple[float, float]:
    """Solve (alpha, beta) of Eq. 5 through two probes with pi_0 held fixed.

    With q = e^{-beta}: (acc_high - pi0)/(acc_low - pi0) = (1 - q^{d_h})/(1 - q^{d_l}),
    which is monotone in q, so a bracketing root-finder gives the unique solution.

    Raises
    ------
    ScalingInputError
        When the probes are not increasing (acc_low <= pi0 or acc_high < acc_low), which
        Eq. 5 with alpha, beta > 0 cannot represent.
    """
    if not 0 < shots_low < shots_high:
        raise ScalingInputError(
            f"anchor shots must satisfy 0 < low < high, got {shots_low}, {shots_high}",
            field="points",
        )
    g_low, g_high = acc_low - pi0, acc_high - pi0
    if g_low <= 0:
        raise ScalingInputError(
            f"non-monotone probes: accuracy at {shots_low:g} shots ({acc_low:.4g}) is not "
            f"above pi0 = min(0-shot, 1-shot) = {pi0:.4g}; Eq. 5 needs increasing accuracy",
            field="points",
        )
    if g_high < g_low:
        raise ScalingInputError(
            f"non-monotone probes: accuracy at {shots_high:g} shots ({acc_high:.4g}) is below "
            f"accuracy at {shots_low:g} shots ({acc_low:.4g})",
            field="points",
        )
    ratio = g_high / g_low
    cap = shots_high / shots_low  # limit of the ratio as beta -> 0 (linear regime)
    if ratio >= cap:
        raise ScalingInputError(
            f"probes grow at least linearly in shots (ratio {ratio:.4g} >= {cap:.4g}); "
            "Eq. 5 saturates and cannot pass through both points",
            field="points",
        )

    def f(beta: float) -> float:
        return (1 - math.exp(-beta * shots_high)) / (1 - math.exp(-beta * shots_low)) - ratio

    # ratio ~ 1 means the curve is saturated already at the low anchor
    beta = _BETA_MAX if f(_BETA_MAX) >= 0 else float(optimize.brentq(f, 1e-9, _BETA_MAX, xtol=1e-14))
    alpha = g_low / (1 - math.exp(-beta * shots_low))
    return alpha, beta


class IclShotLaw(BaseLaw):
    """Accuracy as a function of the number of in-context demonstrations.

    ``x`` is the shot count d (one number per point, >= 0); ``y`` is accuracy in [0, 1].

    Forms
    -----
    ``"exponential"`` (COSMOS Eq. 5): pi(d) = alpha(1 - e^{-beta d}) + pi0.
    ``"power"``: pi(d) = pi0 + a d^b (our alternative).
    ``"loglinear"``: pi(d) = a + b ln(1 + d) (our alternative).

    Parameters
    ----------
    form : {"auto", "exponential", "power", "loglinear"}
        ``"auto"`` uses the exponential form with fewer than 4 points and otherwise picks the
        form with the lowest held-out squared error — leave-one-out up to 20 points, 5-fold
        (interleaved) beyond (ties favour the exponential).
    method : {"auto", "cosmos", "least_squares"}
        ``"cosmos"`` reproduces the paper: pi0 = min(acc(0), acc(d_min)) and (alpha, beta)
        solved exactly through the smallest positive and the largest shot count.
        ``"auto"`` uses it for the exponential form with at most 3 points when a 0-shot
        probe and two positive shot counts exist, robust least squares otherwise.
    **kwargs
        Engine options of :class:`~scaling.base.BaseLaw`.

    Attributes
    ----------
    form_ : str
        The form used.
    heldout_mse_ : dict of str to float
        Held-out MSE per candidate form (only when ``form="auto"`` with >= 4 points).

    References
    ----------
    .. [1] Wang, Albarghouthi, Sala (2025), arXiv:2505.01449v1, Eq. (5).
    """

    name = "icl_shots"
    input_names = ("shots",)
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "pi0")

    def __init__(self, *, form: str = "auto", method: str = "auto", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form = form
        self.method = method

    def _active(self) -> str:
        return str(getattr(self, "_form", self.form if self.form != "auto" else "exponential"))

    def _adopt_params(self, params: Any) -> tuple[str, ...]:
        for f, names in _FORMS.items():
            if set(params) == set(names):
                self._form = f
                self.form_ = f
                return names
        raise ScalingInputError(
            f"icl_shots params must be one of {[list(v) for v in _FORMS.values()]}, got {sorted(params)}",
            field="params",
        )

    def _all_param_names(self, X: FloatArray | None = None) -> tuple[str, ...]:
        return _FORMS[self._active()]

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        d = X[:, 0]
        f = self._active()
        if f == "exponential":
            a, b, p0 = theta
            return np.asarray(a * (1 - np.exp(-b * d)) + p0, dtype=float)
        if f == "power":
            a, b, p0 = theta
            return np.asarray(p0 + a * np.power(d, b), dtype=float)
        a, b = theta
        return np.asarray(a + b * np.log1p(d), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        bad = np.flatnonzero(X[:, 0] < 0)
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"shots of point {i} is {X[i, 0]!r}; shot counts must be >= 0",
                field=f"points[{i}].x",
            )
        if y is not None:
            bad = np.flatnonzero((y < 0) | (y > 1))
            if bad.size:
                i = int(bad[0])
                raise ScalingInputError(
                    f"accuracy of point {i} is {y[i]!r}; it must be a fraction in [0, 1]",
                    field=f"points[{i}].y",
                )

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        f = self._active()
        if f == "exponential":
            return np.array([0.0, 1e-6, 0.0]), np.array([1.0, _BETA_MAX, 1.0])
        if f == "power":
            return np.array([0.0, 1e-3, 0.0]), np.array([1.0, 2.0, 1.0])
        return np.array([-1.0, -1.0]), np.array([2.0, 1.0])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        f = self._active()
        lo, hi = float(np.min(y)), float(np.max(y))
        span = max(hi - lo, 1e-3)
        if f == "exponential":
            return [np.array([span, b, lo]) for b in (0.5, 1.0, 0.1, 2.0)]
        if f == "power":
            return [np.array([span / 2, b, lo]) for b in (0.3, 0.6, 0.1)]
        return [np.array([lo, span / max(math.log1p(float(np.max(X[:, 0]))), 1e-3)])]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._bounds(X, y)[0], np.minimum(self._bounds(X, y)[1], 3.0)

    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> IclShotLaw:
        """Fit; with ``form="auto"`` and >= 4 points choose the form by held-out error."""
        if self.form not in ("auto", *_FORMS):
            raise ScalingInputError(
                f"form must be 'auto' or one of {sorted(_FORMS)}, got {self.form!r}",
                field="options.form",
            )
        if self.method not in ("auto", "cosmos", "least_squares"):
            raise ScalingInputError(
                f"method must be auto, cosmos or least_squares, got {self.method!r}",
                field="options.method",
            )
        for attr in ("form_", "heldout_mse_"):
            if hasattr(self, attr):
                delattr(self, attr)
        yv = as_vector(y, what="y", law=self.name)
        check_lengths(self._design(x), yv)
        form = self.form
        heldout: dict[str, float] | None = None
        if form == "auto":
            form = "exponential"
            if yv.size >= 4:
                cands = [clone(self).set_params(form=f) for f in _FORMS]
                scheme = "loo" if yv.size <= 20 else "kfold"
                best, errs = select_form(cands, x, y, scheme=scheme)
                form = list(_FORMS)[best]
                heldout = {f: float(e) for f, e in zip(_FORMS, errs, strict=False)}
        self._form = form
        super().fit(x, y, sample_weight)
        self.form_ = form
        if heldout is not None:
            self.heldout_mse_ = heldout
            self.diagnostics_["heldout_mse"] = heldout
        self.diagnostics_["form"] = form
        return self

    def _use_cosmos(self, n: int) -> bool:
        if self._active() != "exponential":
            if self.method == "cosmos":
                raise ScalingInputError("method='cosmos' applies only to the exponential form", field="options.method")
            return False
        return self.method == "cosmos" or (self.method == "auto" and n <= 3)

    @staticmethod
    def _has_cosmos_anchors(X: FloatArray) -> bool:
        d = X[:, 0]
        return bool(np.any(d == 0)) and len(np.unique(d[d > 0])) >= 2

    def _solve(self, X: FloatArray, y: FloatArray, w: FloatArray, names: Any, free: Any, **kw: Any) -> Solution:
        use = self._use_cosmos(len(y))
        if self.method == "auto" and not self._has_cosmos_anchors(X):
            use = False  # no 0-shot probe or < 2 positive shot counts: least squares
        if not use or self.fixed:
            return super()._solve(X, y, w, names, free, **kw)
        d = X[:, 0]
        pos = np.flatnonzero(d > 0)
        if pos.size < 1 or len(np.unique(d[pos])) < 2:
            raise ScalingInputError(
                "the COSMOS fit needs probes at two distinct positive shot counts "
                f"(e.g. 1 and 8), got shots {sorted(d.tolist())}",
                field="points",
            )
        d_lo, d_hi = float(np.min(d[pos])), float(np.max(d[pos]))
        a_lo = float(np.mean(y[d == d_lo]))
        a_hi = float(np.mean(y[d == d_hi]))
        zero = y[d == 0]
        pi0 = min(float(np.mean(zero)), a_lo) if zero.size else a_lo
        if not zero.size:
            raise ScalingInputError(
                "the COSMOS fit needs a 0-shot probe (pi0 = min(0-shot, 1-shot)); "
                "add a point with shots = 0 or use method='least_squares'",
                field="points",
            )
        alpha, beta = solve_cosmos_anchors(a_lo, a_hi, pi0, shots_low=d_lo, shots_high=d_hi)
        theta = np.array([alpha, beta, pi0])
        res = optimize.OptimizeResult(
            x=theta,
            cost=0.5 * float(np.sum(w * (self._model(theta, X) - y) ** 2)),
            jac=np.zeros((len(y), 3)),
            nfev=1,
            success=True,
            status=1,
            message="closed-form COSMOS anchor solution (pi0 = min(0-shot, 1-shot))",
            active_mask=np.zeros(3, dtype=int),
        )
        # exactly determined: no covariance (jac zeros -> rank 0 -> errorbars False)
        return Solution(theta=theta, res=res, init=theta.copy(), extra={"method": "cosmos"})


COSMOS_ICL_SD = 0.013 * math.sqrt(math.pi / 2)
"""A shot law's own error as a normal sd: COSMOS's per-configuration ICL MAE of 0.013 (App. E), MAE = sd·√(2/π)."""


class ShotCurveAverage:
    """Accuracy against shots from the probes' evidence: rising, flat or falling, averaged by Akaike weights.

    Small models often lose accuracy with more demonstrations (label bias, majority-label and recency
    effects: Zhao et al. 2021, "Calibrate Before Use", arXiv:2102.09690; Min et al. 2022, arXiv:2202.12837),
    so COSMOS's saturating rise (Eq. 5) is one form among three: ``rising`` (Eq. 5, α ≥ 0), ``flat``
    (π(d) = c) and ``falling`` (Eq. 5 mirrored: 1 − π rises). The probes' sampling sd is known, so each form
    is scored by AIC = χ² + 2k (Burnham & Anderson 2002, Sec. 2.3; AICc is undefined for 3 probes and 3
    parameters), weighted w ∝ exp(−AIC/2), and the forecast is the weighted mean with the unconditional
    variance Σ w (σ² + (μ − μ̄)²) (ibid. Eq. 4.9), so disagreement between forms widens the interval. A form
    that would continue the opposite of the probes' last step (a rise through falling probes) is left out.

    Each few-shot probe, and the run forecast, is one draw of demonstrations: its accuracy sits about the
    curve with sd ``draw_sd`` besides its test set's sampling (``sigma``); the probes are scored with both,
    and the forecast's sd holds the nearest probe's sampling and its own draw.

    Parameters
    ----------
    interval : float
        Default central coverage of :meth:`predict_interval`.
    draw_sd : float
        A few-shot run's spread about the curve beyond its test set (the demonstrations drawn), never taken
        below COSMOS's per-configuration ICL error (:data:`COSMOS_ICL_SD`, the default, for runs averaged
        over draws of a large model); a zero-shot run keeps COSMOS's error.

    Attributes
    ----------
    forms_ : dict of str to fitted IclShotLaw or float
        Each form kept (the flat form is its level).
    weights_ : dict of str to float
        Akaike weights, summing to 1.
    aic_ : dict of str to float
    last_probe_ : (shots, accuracy, sign of the last step)
    """

    def __init__(self, *, interval: float = 0.9, draw_sd: float = COSMOS_ICL_SD) -> None:
        self.interval = interval
        self.draw_sd = draw_sd

    def fit(self, shots: Any, accuracy: Any, *, sigma: Any = None) -> ShotCurveAverage:
        """Fit each form to the probes; ``sigma`` is each probe's sampling sd (None: unknown, 0)."""
        d, y = as_vector(shots, what="x", law="icl_shots"), as_vector(accuracy, what="y", law="icl_shots")
        check_lengths(d.reshape(-1, 1), y)
        if len(np.unique(d)) < 3 or len(d) != len(np.unique(d)):
            raise ScalingInputError("the shot curve needs probes at 3 or more distinct shot counts", field="points")
        order = np.argsort(d)
        d, y = d[order], y[order]
        probe_sd = np.zeros_like(y) if sigma is None else as_vector(sigma, what="sigma", law="icl_shots")[order]
        if not (math.isfinite(self.draw_sd) and self.draw_sd >= 0):
            raise ScalingInputError(f"draw_sd must be a finite sd >= 0, got {self.draw_sd!r}", field="draw_sd")
        self.shots_, self.probe_sd_ = d, probe_sd
        self.point_sd_ = np.hypot(probe_sd, self._run_sd(d))
        last_step = y[-1] - y[-2]
        fits: dict[str, Any] = {"flat": float(np.average(y, weights=self.point_sd_**-2))}
        for form, target in (("rising", y), ("falling", 1.0 - y)):
            if (form == "rising" and last_step < 0) or (form == "falling" and last_step > 0):
                continue  # never carry a rise through falling probes, nor a fall through rising ones
            law = _fit_exponential(d, target)
            if law is not None:
                fits[form] = law
        self.forms_ = fits
        self.last_probe_ = (float(d[-1]), float(y[-1]), float(np.sign(last_step)))
        n_params = {"flat": 1, "rising": 3, "falling": 3}
        self.aic_ = {
            f: float(np.sum(((self._form_mean(f, d) - y) / self.point_sd_) ** 2)) + 2 * n_params[f] for f in fits
        }
        best = min(self.aic_.values())
        raw = {f: math.exp(-(a - best) / 2) for f, a in self.aic_.items()}
        self.weights_ = {f: w / sum(raw.values()) for f, w in raw.items()}
        return self

    def _run_sd(self, d: FloatArray) -> FloatArray:
        """A run's spread about the curve besides its test set: a zero-shot run draws no demonstrations, so
        it keeps only the law's own error (at least COSMOS's)."""
        return np.where(d > 0, max(self.draw_sd, COSMOS_ICL_SD), COSMOS_ICL_SD)

    def _form_mean(self, form: str, d: FloatArray) -> FloatArray:
        fitted = self.forms_[form]
        if form == "flat":
            return np.full(len(d), float(fitted))
        mean = np.asarray(fitted.predict(d), dtype=float)
        return 1.0 - mean if form == "falling" else mean

    def _moments(self, shots: Any) -> tuple[FloatArray, FloatArray]:
        check_is_fitted(self, ("forms_", "weights_"))
        d = as_vector(shots, what="x", law="icl_shots")
        nearest = np.abs(np.log1p(d)[:, None] - np.log1p(self.shots_)[None, :]).argmin(axis=1)
        # The probes share one test set: its error does not average out; the run draws its own demonstrations.
        form_sd = np.hypot(self.probe_sd_[nearest], self._run_sd(d))
        means = {f: self._form_mean(f, d) for f in self.weights_}
        mean = sum(w * means[f] for f, w in self.weights_.items())
        # Beyond the last probe of a curve whose last step fell, the average stays at or below it: the flat
        # form's level (the probes' mean) would otherwise carry a rise through falling probes.
        last_shots, last_level, direction = self.last_probe_
        if direction < 0:
            mean = np.where(d > last_shots, np.minimum(mean, last_level), mean)
        variance = sum(w * (form_sd**2 + (means[f] - mean) ** 2) for f, w in self.weights_.items())
        return np.asarray(mean, dtype=float), np.sqrt(np.asarray(variance, dtype=float))

    def predict(self, shots: Any) -> FloatArray:
        """The model-averaged accuracy at ``shots``."""
        return self._moments(shots)[0]

    def predict_interval(self, shots: Any, level: float | None = None) -> tuple[FloatArray, FloatArray]:
        """Central ``level`` interval from the averaged mean and the unconditional sd (normal), within [0, 1]."""
        mean, sd = self._moments(shots)
        z = stats.norm.ppf(0.5 + (self.interval if level is None else level) / 2)
        return np.clip(mean - z * sd, 0.0, 1.0), np.clip(mean + z * sd, 0.0, 1.0)


def _fit_exponential(d: FloatArray, y: FloatArray) -> IclShotLaw | None:
    """Eq. 5 through the probes: COSMOS's anchors when they solve it, else least squares; None if neither."""
    for method in ("auto", "least_squares"):
        try:
            return IclShotLaw(form="exponential", method=method, random_state=0).fit(d, y)
        except ScalingInputError:
            continue
    return None
