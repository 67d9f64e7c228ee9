# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""PassUntil: sample-until-r-passes estimation and the task scaling law PU = exp(-c N^-alpha).

References
----------
.. [1] Hu, S. et al. (2024). "Predicting Emergent Abilities with Infinite Resolution
   Evaluation". arXiv:2310.03262v3 (ICLR 2024). Sec. 4.1, Eq. (2) (PU = r/K, Theorem 1:
   maximum-likelihood); Eq. (3) (PU(c, N) = exp(-c N^-alpha)); Sec. 5.3 / Table 1
   (instance-level fit, HumanEval 2.4B); Sec. 6, Definition 1 (growth regimes).
.. [2] Haldane, J. B. S. (1945). "On a method of estimating frequencies". Biometrika 33,
   222-225 — the unbiased (r-1)/(K-1) estimator for inverse (negative-binomial) sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats  # type: ignore[import-untyped, unused-ignore]

from .base import BaseLaw
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, as_generator, as_vector, require_positive

__all__ = [
    "GrowthClassification",
    "InstanceTaskScalingLaw",
    "PassUntilEstimate",
    "TaskScalingLaw",
    "classify_growth",
    "passuntil_estimate",
    "passuntil_moments",
    "simulate_passuntil",
]


@dataclass(frozen=True)
class PassUntilEstimate:
    """Per-instance PassUntil estimates.

    Attributes
    ----------
    pass_probability : ndarray
        Estimated per-sample pass probability P(s). For censored instances this is the
        censored maximum-likelihood value n_passes / k_max (0 when nothing passed).
    censored : ndarray of bool
        True where fewer than ``r`` passes were seen within ``k_max`` samples.
    upper_bound : ndarray
        For censored instances, the one-sided ``level`` upper confidence bound on P(s)
        (Clopper-Pearson with n_passes successes in k_max trials); equals the estimate
        otherwise.
    variance : ndarray
        Delta-method variance p^2 (1 - p) / r of the estimate (complete instances);
        binomial variance p (1 - p) / k_max for censored ones.
    task_pass_probability : float
        Mean of ``pass_probability`` over instances (the task-level PU of the paper).
    """

    pass_probability: FloatArray
    censored: NDArray[np.bool_]
    upper_bound: FloatArray
    variance: FloatArray
    task_pass_probability: float


def passuntil_estimate(
    n_passes: Any,
    n_samples: Any,
    *,
    r: int,
    k_max: int | None = None,
    estimator: str = "unbiased",
    level: float = 0.9,
) -> PassUntilEstimate:
    """Estimate per-instance pass probabilities from sample-until-r-passes runs.

    Parameters
    ----------
    n_passes : array-like of int
        Passes observed per instance (``r`` when sampling stopped on the r-th pass, fewer
        when the cap ``k_max`` was reached).
    n_samples : array-like of int
        Samples drawn per instance, K (counting passes).
    r : int
        Required passes (the paper uses 1 or 2).
    k_max : int, optional
        Sampling cap (the paper uses 1e5). Required if any instance is censored.
    estimator : {"unbiased", "mle"}
        ``"mle"``: r/K (paper Eq. 2, biased upward). ``"unbiased"``: (r-1)/(K-1) (Haldane
        1945; needs r >= 2).
    level : float
        Confidence level of ``upper_bound`` for censored instances.
    """
    if estimator not in ("unbiased", "mle"):
        raise ScalingInputError(f"estimator must be 'unbiased' or 'mle', got {estimator!r}", field="options.estimator")
    if int(r) != r or r < 1:
        raise ScalingInputError(f"r must be a positive integer, got {r!r}", field="options.r")
    if estimator == "unbiased" and r < 2:
        raise ScalingInputError(
            "the unbiased estimator (r-1)/(K-1) needs r >= 2; use estimator='mle' for r = 1",
            field="options.r",
        )
    s = as_vector(n_passes, what="n_passes", law="passuntil")
    K = as_vector(n_samples, what="n_samples", law="passuntil")
    if s.shape != K.shape:
        raise ScalingInputError(f"n_passes has {s.size} entries but n_samples has {K.size}", field="points")
    for arr, nm in ((s, "n_passes"), (K, "n_samples")):
        bad = np.flatnonzero((arr < 0) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"{nm} of instance {i} is {arr[i]!r}; counts must be non-negative integers",
                field=f"points[{i}].{nm}",
            )
    bad = np.flatnonzero((s > r) | (s > K))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(
            f"instance {i}: {s[i]:g} passes in {K[i]:g} samples is impossible with r = {r}",
            field=f"points[{i}].n_passes",
        )
    censored = s < r
    if censored.any():
        if k_max is None:
            raise ScalingInputError(
                "some instances stopped before r passes; give k_max (the sampling cap)",
                field="options.k_max",
            )
        bad = np.flatnonzero(censored & (K != k_max))
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"instance {i} has {s[i]:g} < r passes but K = {K[i]:g} != k_max = {k_max}",
                field=f"points[{i}].n_samples",
            )
    done = ~censored
    if np.any(K[done] < r):
        raise ScalingInputError("K must be >= r for completed instances", field="points")
    p = np.zeros_like(K)
    if estimator == "mle":
        p[done] = r / K[done]
    else:
        p[done] = (r - 1) / (K[done] - 1)
    upper = p.copy()
    var = np.zeros_like(p)
    var[done] = p[done] ** 2 * (1 - p[done]) / r
    if censored.any():
        assert k_max is not None
        sc = s[censored]
        p[censored] = sc / k_max
        upper[censored] = stats.beta.ppf(level, sc + 1, k_max - sc)
        var[censored] = p[censored] * (1 - p[censored]) / k_max
    return PassUntilEstimate(
        pass_probability=p,
        censored=censored,
        upper_bound=upper,
        variance=var,
        task_pass_probability=float(np.mean(p)),
    )


def passuntil_moments(
    p: float, *, r: int, estimator: str = "mle", k_max: int | None = None, tail: float = 1e-13
) -> tuple[float, float]:
    """Exact mean and variance of the PassUntil estimator for true pass probability ``p``.

    K (samples up to the r-th pass) is negative-binomial: P(K = k) = C(k-1, r-1) p^r
    (1-p)^(k-r), k >= r. Without a cap the sums run until the tail mass is below ``tail``.
    With ``k_max``, runs reaching the cap are censored and contribute s/k_max (s < r
    passes, binomial) as :func:`passuntil_estimate` does.

    Returns
    -------
    mean, variance : float
        E[estimate] and Var[estimate].
    """
    if not 0 < p < 1:
        raise ScalingInputError(f"p must be in (0, 1), got {p!r}", field="p")
    if estimator == "unbiased" and r < 2:
        raise ScalingInputError("unbiased estimator needs r >= 2", field="options.r")
    # without a cap, sum up to the (1 - tail) quantile of K
    hi = int(r + stats.nbinom.ppf(1 - tail, r, p)) + 10 if k_max is None else int(k_max)
    k = np.arange(r, hi + 1, dtype=float)
    logpmf = (
        special.gammaln(k)
        - special.gammaln(r)
        - special.gammaln(k - r + 1)
        + r * math.log(p)
        + (k - r) * math.log1p(-p)
    )
    pmf = np.exp(logpmf)
    est = r / k if estimator == "mle" else (r - 1) / (k - 1)
    m1 = float(np.sum(pmf * est))
    m2 = float(np.sum(pmf * est**2))
    if k_max is not None:
        s = np.arange(0, r, dtype=float)
        pmf_s = stats.binom.pmf(s, k_max, p)
        m1 += float(np.sum(pmf_s * s / k_max))
        m2 += float(np.sum(pmf_s * (s / k_max) ** 2))
    return m1, m2 - m1**2


def simulate_passuntil(
    p: Any,
    *,
    r: int,
    k_max: int | None = None,
    n_repeats: int = 1,
    random_state: int | np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Simulate sample-until-r-passes runs; returns ``(n_passes, n_samples)``.

    Shapes are ``(n_repeats, len(p))``. Uses only ``random_state`` (never the global RNG).
    """
    rng = as_generator(random_state)
    pv = np.atleast_1d(np.asarray(p, dtype=float))
    if np.any((pv <= 0) | (pv >= 1)):
        raise ScalingInputError("pass probabilities must be in (0, 1)", field="p")
    waits = rng.geometric(pv, size=(n_repeats, r, pv.size)).astype(float)
    times = np.cumsum(waits, axis=1)  # sample index of each pass
    K = times[:, -1, :]
    passes = np.full_like(K, float(r))
    if k_max is not None:
        cens = K > k_max
        passes = np.where(cens, np.sum(times <= k_max, axis=1), passes)
        K = np.where(cens, float(k_max), K)
    return passes, K


class TaskScalingLaw(BaseLaw):
    """Task scaling law PU(N) = exp(-c N^-alpha) (Hu et al. 2024, Eq. 3).

    ``x`` is the model size N in parameters (one number per point); ``y`` is the task-level
    PassUntil pass probability, strictly inside (0, 1) (censored zeros must be dropped).

    Parameters
    ----------
    space : {"loglog", "direct"}
        ``"loglog"`` (default, the paper's linearisation) fits
        log(-log PU) = log c - alpha log N; ``"direct"`` fits PU itself.
    **kwargs
        Engine options of :class:`~scaling.base.BaseLaw`.

    Attributes
    ----------
    params_ : dict
        ``c`` (dimensionless, > 0) and ``alpha`` (exponent).
    """

    name = "passuntil"
    param_names = ("c", "alpha")
    input_names = ("n_params",)

    def __init__(self, *, space: str = "loglog", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.space = space

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        c, a = theta
        return np.asarray(np.exp(-c * np.exp(-a * np.log(X[:, 0]))), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        require_positive(X, [0], ["n_params"])
        if self.space not in ("loglog", "direct"):
            raise ScalingInputError(f"space must be 'loglog' or 'direct', got {self.space!r}", field="options.space")
        if y is not None:
            bad = np.flatnonzero((y <= 0) | (y >= 1))
            if bad.size:
                i = int(bad[0])
                raise ScalingInputError(
                    f"PassUntil value of point {i} is {y[i]!r}; it must lie strictly in (0, 1) "
                    "(log(-log PU) is undefined at 0 and 1; drop censored zeros)",
                    field=f"points[{i}].y",
                )

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([1e-12, -5.0]), np.array([np.inf, 5.0])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        u = np.log(X[:, 0])
        F = np.log(-np.log(y))
        if np.ptp(u) > 0:
            slope, icpt = np.polyfit(u, F, 1)
        else:
            slope, icpt = 0.0, float(np.mean(F))
        return [np.array([math.exp(min(icpt, 700.0)), -slope])]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return np.array([g[0] / 10, g[1] - 0.3]), np.array([g[0] * 10, g[1] + 0.3])

    def _residual_fn(
        self, X: FloatArray, y: FloatArray, w: FloatArray, full0: FloatArray, free: NDArray[np.bool_]
    ) -> Any:
        if self.space == "direct":
            return super()._residual_fn(X, y, w, full0, free)
        sw = np.sqrt(w)
        u = np.log(X[:, 0])
        F = np.log(-np.log(y))

        def fun(t: FloatArray) -> FloatArray:
            full = full0.copy()
            full[free] = t
            with np.errstate(all="ignore"):
                r = sw * (np.log(full[0]) - full[1] * u - F)
            return np.where(np.isfinite(r), r, 1e10)

        return fun


class InstanceTaskScalingLaw:
    """Instance-level PassUntil prediction: one (c_s, alpha_s) per test instance.

    PU_task(N) = mean_s exp(-c_s N^-alpha_s) (Hu et al. 2024, Sec. 5.3, "IPU"). Instances
    with fewer than ``min_points`` usable (0 < PU < 1) sizes are "hard": they contribute
    ``hard_value`` (default: the censored-instance upper bound 0, i.e. excluded from the
    gain) — the paper suggests using test loss for them, which this class does not do.

    Parameters
    ----------
    min_points : int
        Usable sizes needed to fit an instance (>= 2).
    hard_value : float
        Prediction used for instances that cannot be fitted.
    space : {"loglog", "direct"}
        Passed to each per-instance :class:`TaskScalingLaw`.
    """

    name = "passuntil_instance"

    def __init__(self, *, min_points: int = 2, hard_value: float = 0.0, space: str = "loglog") -> None:
        self.min_points = min_points
        self.hard_value = hard_value
        self.space = space

    def get_params(self) -> dict[str, Any]:
        return {"min_points": self.min_points, "hard_value": self.hard_value, "space": self.space}

    def fit(self, n_params: Any, pass_probability: Any) -> InstanceTaskScalingLaw:
        """Fit from sizes ``n_params`` (n_sizes,) and PU matrix (n_sizes, n_instances)."""
        for attr in ("instance_params_", "n_hard_"):
            if hasattr(self, attr):
                delattr(self, attr)
        N = as_vector(n_params, what="n_params", law=self.name)
        P = np.asarray(pass_probability, dtype=float)
        if P.ndim != 2 or P.shape[0] != N.size:
            raise ScalingInputError(
                f"pass_probability must have shape (n_sizes={N.size}, n_instances), got {P.shape}",
                field="points",
            )
        if not np.all(np.isfinite(P)) or np.any((P < 0) | (P > 1)):
            raise ScalingInputError("pass probabilities must be finite and in [0, 1]", field="points")
        params: list[tuple[float, float] | None] = []
        for j in range(P.shape[1]):
            ok = (P[:, j] > 0) & (P[:, j] < 1)
            if ok.sum() < max(2, int(self.min_points)):
                params.append(None)
                continue
            law = TaskScalingLaw(space=self.space, n_restarts=0).fit(N[ok], P[ok, j])
            params.append((law.params_["c"], law.params_["alpha"]))
        if all(p is None for p in params):
            raise ScalingInputError(f"no instance has {self.min_points} sizes with 0 < PU < 1", field="points")
        self.instance_params_ = params
        self.n_hard_ = sum(p is None for p in params)
        return self

    def predict(self, n_params: Any) -> FloatArray:
        """Task-level PU at sizes ``n_params``: mean of per-instance predictions."""
        check_is_fitted(self, ("instance_params_",))
        N = as_vector(n_params, what="n_params", law=self.name)
        require_positive(N.reshape(-1, 1), [0], ["n_params"])
        cols = []
        for p in self.instance_params_:
            if p is None:
                cols.append(np.full(N.size, float(self.hard_value)))
            else:
                cols.append(np.exp(-p[0] * N ** (-p[1])))
        return np.asarray(np.mean(np.column_stack(cols), axis=1), dtype=float)


@dataclass(frozen=True)
class GrowthClassification:
    """Curvature of F = log(-log PU) against log N (Hu et al. 2024, Definition 1).

    Attributes
    ----------
    label : str
        ``"scaling"`` (linear), ``"sub_scaling"`` (convex F) or ``"accelerated_emergence"``
        (concave F, super-scaling), decided by whether the ``level`` interval of the
        quadratic coefficient excludes 0.
    curvature : float
        Quadratic coefficient of F on standardised log N.
    interval : (float, float)
        Its two-sided confidence interval.
    """

    label: str
    curvature: float
    interval: tuple[float, float]


def classify_growth(n_params: Any, pass_probability: Any, *, level: float = 0.9) -> GrowthClassification:
    """Classify PassUntil growth by the curvature of log(-log PU) in log N.

    Fits F = a + b u + c u^2 by ordinary least squares with u = standardised log N and a
    Student-t interval for c; needs >= 4 sizes with 0 < PU < 1.
    """
    N = as_vector(n_params, what="n_params", law="passuntil")
    P = as_vector(pass_probability, what="y", law="passuntil")
    if N.size != P.size:
        raise ScalingInputError("n_params and pass_probability lengths differ", field="points")
    require_positive(N.reshape(-1, 1), [0], ["n_params"])
    bad = np.flatnonzero((P <= 0) | (P >= 1))
    if bad.size:
        i = int(bad[0])
        raise ScalingInputError(f"PassUntil value of point {i} is {P[i]!r}; must lie in (0, 1)", field=f"points[{i}].y")
    if N.size < 4:
        raise ScalingInputError(
            f"growth classification needs at least 4 sizes for 3 curvature-fit parameters "
            f"with a residual, got {N.size}",
            field="points",
        )
    u = np.log(N)
    u = (u - u.mean()) / (u.std() if u.std() > 0 else 1.0)
    F = np.log(-np.log(P))
    A = np.column_stack([np.ones_like(u), u, u**2])
    coef, *_ = np.linalg.lstsq(A, F, rcond=None)
    resid = F - A @ coef
    dof = N.size - 3
    s2 = float(resid @ resid) / dof
    cov = np.linalg.pinv(A.T @ A) * s2
    se = math.sqrt(max(float(cov[2, 2]), 0.0))
    tq = float(stats.t.ppf(0.5 + level / 2, dof))
    lo, hi = float(coef[2] - tq * se), float(coef[2] + tq * se)
    label = "sub_scaling" if lo > 0 else "accelerated_emergence" if hi < 0 else "scaling"
    return GrowthClassification(label=label, curvature=float(coef[2]), interval=(lo, hi))
