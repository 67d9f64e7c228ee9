# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Fitting engine shared by every scaling law.

Each law is an estimator in the scikit-learn sense, by duck typing: the constructor only
stores options, :meth:`BaseLaw.fit` validates the points, fits by robust least squares
(:func:`scipy.optimize.least_squares` with bounds and multi-start) and sets the fitted
attributes ``params_``, ``covariance_``, ``intervals_`` and ``diagnostics_``;
:meth:`BaseLaw.predict` and :meth:`BaseLaw.predict_interval` check that a fit exists first.

Non-convergence is reported as a result with ``success=False`` (never an exception);
degenerate input raises :class:`ScalingInputError`, a :class:`ValueError` that names the
offending field (e.g. ``"points[3].y"``).

References
----------
.. [1] Virtanen et al. (2020), "SciPy 1.0", Nature Methods 17, 261-272 —
   ``scipy.optimize.least_squares`` (trust-region reflective, robust losses).
.. [2] Newville et al., "LMFIT: Non-Linear Least-Square Minimization and Curve-Fitting
   for Python" — the three-block fit report and the ``errorbars`` convention.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats  # type: ignore[import-untyped, unused-ignore]

from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, as_design, as_generator, as_vector, as_weights, check_lengths, check_param_names
from .result import FitResult

__all__ = ["BaseLaw", "Solution", "clone"]

_LawT = TypeVar("_LawT", bound="BaseLaw")

# multi-start stops early once this many starts agree on the lowest cost
_N_AGREE = 3
# caps that keep one fit bounded in time (the API passes user options through)
_MAX_RESTARTS = 100
_MAX_BOOTSTRAP = 1000
_MAX_NFEV = 100_000
_LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


def clone(estimator: _LawT) -> _LawT:
    """Return an unfitted copy of ``estimator`` with the same constructor options."""
    return type(estimator)(**estimator.get_params())


@dataclass
class Solution:
    """One start's least-squares solution: parameters, scipy's result, the start, law-specific extras."""

    theta: FloatArray
    res: Any
    init: FloatArray
    extra: dict[str, Any] = field(default_factory=dict)


class BaseLaw:
    """Base class of all parametric scaling laws.

    Subclasses declare ``name``, ``param_names``, ``input_names`` and implement
    :meth:`_model`; they may override :meth:`_bounds`, :meth:`_initial_guesses`,
    :meth:`_check_domain` and :meth:`_design`.

    Parameters
    ----------
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"}
        Robust loss of :func:`scipy.optimize.least_squares`.
    f_scale : float
        Soft margin between inlier and outlier residuals (in units of ``y``).
    n_restarts : int
        Random restarts (at most 100) in addition to the law's deterministic starting points. Starts run
        in order (deterministic first) and stop early once 3 of them agree on the lowest
        cost (relative tolerance 1e-7).
    interval : float
        Confidence level of parameter and prediction intervals, in (0, 1).
    n_bootstrap : int
        If > 0 (at most 1000), intervals come from that many case-resampling bootstrap refits
        (percentile method) instead of the covariance (Wald / delta method).
    fixed : dict of str to float, optional
        Parameters held at a given value (not fitted).
    random_state : int, numpy.random.Generator or None
        Seed for restarts and the bootstrap. The global RNG is never used.
    max_nfev : int, optional
        Function-evaluation cap per start (at most 100,000; default scipy's 100 x n_params).
    """

    name: ClassVar[str] = "base"
    #: extra constructor options that must be finite numbers (checked in ``fit``)
    _numeric_options: ClassVar[tuple[str, ...]] = ()
    param_names: ClassVar[tuple[str, ...]] = ()
    input_names: ClassVar[tuple[str, ...]] = ("x",)

    def __init__(
        self,
        *,
        loss: str = "linear",
        f_scale: float = 1.0,
        n_restarts: int = 4,
        interval: float = 0.9,
        n_bootstrap: int = 0,
        fixed: Mapping[str, float] | None = None,
        random_state: int | np.random.Generator | None = None,
        max_nfev: int | None = None,
    ) -> None:
        self.loss = loss
        self.f_scale = f_scale
        self.n_restarts = n_restarts
        self.interval = interval
        self.n_bootstrap = n_bootstrap
        self.fixed = fixed
        self.random_state = random_state
        self.max_nfev = max_nfev

    # ------------------------------------------------------------------ params API
    def get_params(self) -> dict[str, Any]:
        """Constructor options, by name (as scikit-learn's ``get_params``)."""
        names: list[str] = []
        for klass in type(self).__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if (
                    p.name != "self"
                    and p.kind
                    not in (
                        inspect.Parameter.VAR_KEYWORD,
                        inspect.Parameter.VAR_POSITIONAL,
                    )
                    and p.name not in names
                ):
                    names.append(p.name)
        return {p: getattr(self, p) for p in names}

    def set_params(self, **params: Any) -> Self:
        """Set constructor options; unknown names raise :class:`ScalingInputError`."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ScalingInputError(
                    f"unknown option {key!r} for law {self.name!r}; valid: {sorted(valid)}",
                    field=f"options.{key}",
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ hooks
    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        k = len(self._all_param_names(X))
        return np.full(k, -np.inf), np.full(k, np.inf)

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        return [np.ones(len(self._all_param_names(X)))]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Box from which random restarts are drawn (defaults to guesses +/- 1 decade)."""
        g = self._initial_guesses(X, y)[0]
        lo, hi = self._bounds(X, y)
        a = np.where(g > 0, g / 10, g * 10 - 1)
        b = np.where(g > 0, g * 10, g / 10 + 1)
        return np.maximum(a, np.where(np.isfinite(lo), lo, a)), np.minimum(b, np.where(np.isfinite(hi), hi, b))

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        """Law-specific input checks; raise :class:`ScalingInputError`."""

    def _all_param_names(self, X: FloatArray | None = None) -> tuple[str, ...]:
        return self.param_names

    def _design(self, x: Any, *, what: str = "x") -> FloatArray:
        """Turn the documented ``x`` shapes into a 2-D float array (n_points, n_inputs)."""
        return as_design(x, self.input_names, law=self.name, what=what)

    def _postprocess(self, X: FloatArray, y: FloatArray) -> None:
        """Hook run after a successful fit (derived quantities)."""

    # ------------------------------------------------------------------ fit
    def _validate_options(self) -> None:
        for key in ("f_scale", "interval", "n_restarts", "n_bootstrap", *self._numeric_options):
            val = getattr(self, key)
            if (
                isinstance(val, bool)
                or not isinstance(val, (int, float, np.integer, np.floating))
                or not math.isfinite(float(val))
            ):
                raise ScalingInputError(f"option {key} must be a finite number, got {val!r}", field=f"options.{key}")
        if self.max_nfev is not None and (
            isinstance(self.max_nfev, bool)
            or not isinstance(self.max_nfev, (int, np.integer))
            or not 1 <= self.max_nfev <= _MAX_NFEV
        ):
            raise ScalingInputError(
                f"max_nfev must be an integer in [1, {_MAX_NFEV}], got {self.max_nfev!r}",
                field="options.max_nfev",
            )
        rs = self.random_state
        if (
            rs is not None
            and not isinstance(rs, np.random.Generator)
            and (isinstance(rs, bool) or not isinstance(rs, (int, np.integer)) or rs < 0)
        ):
            raise ScalingInputError(
                f"random_state must be a non-negative integer or None, got {rs!r}",
                field="options.random_state",
            )
        if self.fixed is not None and not isinstance(self.fixed, Mapping):
            raise ScalingInputError(
                f"fixed must be an object of parameter: value, got {self.fixed!r}",
                field="options.fixed",
            )
        if self.loss not in _LOSSES:
            raise ScalingInputError(f"loss must be one of {_LOSSES}, got {self.loss!r}", field="options.loss")
        if not (isinstance(self.f_scale, (int, float)) and self.f_scale > 0):
            raise ScalingInputError(f"f_scale must be a positive number, got {self.f_scale!r}", field="options.f_scale")
        if not (0.0 < float(self.interval) < 1.0):
            raise ScalingInputError(f"interval must be in (0, 1), got {self.interval!r}", field="options.interval")
        for key, cap in (("n_restarts", _MAX_RESTARTS), ("n_bootstrap", _MAX_BOOTSTRAP)):
            val = getattr(self, key)
            if int(val) != val or not 0 <= val <= cap:
                raise ScalingInputError(f"{key} must be an integer in [0, {cap}], got {val!r}", field=f"options.{key}")

    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit the law to points ``(x, y)``; returns ``self``.

        Parameters
        ----------
        x : array-like or dict
            Inputs in the shape documented by the law (scalar per point, or a dict of
            columns / an ``(n_points, n_inputs)`` array for multi-input laws).
        y : array-like of shape (n_points,)
            Observed values.
        sample_weight : array-like of shape (n_points,), optional
            Non-negative weights on the squared residuals.
        """
        for attr in ("params_", "covariance_", "intervals_", "diagnostics_", "bootstrap_params_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._validate_options()
        X = self._design(x)
        yv = as_vector(y, what="y", law=self.name)
        check_lengths(X, yv)
        w = as_weights(sample_weight, len(yv))
        self._check_domain(X, yv)
        names = self._all_param_names(X)
        free = self._free_mask(names)
        n_free = int(free.sum())
        if len(yv) < self._min_points(n_free):
            raise ScalingInputError(
                f"law {self.name!r} needs at least {n_free} points to fit {n_free} free "
                f"parameters ({', '.join(n for n, f in zip(names, free, strict=False) if f)}), got "
                f"{len(yv)} points (hold some fixed with options.fixed)",
                field="points",
            )
        if np.all(yv == 0):
            raise ScalingInputError(
                f"all {len(yv)} y values are zero; law {self.name!r} cannot be fitted",
                field="points",
            )
        try:
            with np.errstate(all="ignore"):
                sol = self._solve(X, yv, w, names, free)
                self._finish(X, yv, w, names, free, sol)
        except (np.linalg.LinAlgError, OverflowError, ZeroDivisionError) as exc:
            raise ScalingInputError(
                f"points are numerically degenerate for law {self.name!r} (extreme magnitudes or no spread): {exc}",
                field="points",
            ) from exc
        return self

    def _min_points(self, n_free: int) -> int:
        """Fewest points accepted for ``n_free`` free parameters (default: equal)."""
        return n_free

    def _free_mask(self, names: Sequence[str]) -> NDArray[np.bool_]:
        fixed = dict(self.fixed or {})
        unknown = set(fixed) - set(names)
        if unknown:
            raise ScalingInputError(
                f"cannot fix unknown parameter(s) {sorted(unknown)} of law {self.name!r}; parameters are {list(names)}",
                field="options.fixed",
            )
        for k, v in fixed.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ScalingInputError(f"fixed value of {k!r} must be a number, got {v!r}", field=f"options.fixed.{k}")
            if not math.isfinite(float(v)):
                raise ScalingInputError(f"fixed value of {k!r} must be finite, got {v!r}", field=f"options.fixed.{k}")
        return np.array([n not in fixed for n in names], dtype=bool)

    def _residual_fn(
        self, X: FloatArray, y: FloatArray, w: FloatArray, full0: FloatArray, free: NDArray[np.bool_]
    ) -> Callable[[FloatArray], FloatArray]:
        sw = np.sqrt(w)

        def fun(t: FloatArray) -> FloatArray:
            full = full0.copy()
            full[free] = t
            with np.errstate(all="ignore"):
                r = sw * (self._model(full, X) - y)
            return np.where(np.isfinite(r), r, 1e10)

        return fun

    def _solve(
        self,
        X: FloatArray,
        y: FloatArray,
        w: FloatArray,
        names: Sequence[str],
        free: NDArray[np.bool_],
        *,
        rng: np.random.Generator | None = None,
        n_restarts: int | None = None,
    ) -> Solution:
        fixed = dict(self.fixed or {})
        lo, hi = self._bounds(X, y)
        guesses = self._initial_guesses(X, y)
        full0 = np.array(guesses[0], dtype=float)
        for i, n in enumerate(names):
            if n in fixed:
                full0[i] = float(fixed[n])
        rng = rng if rng is not None else as_generator(self.random_state)
        starts = [np.asarray(g, dtype=float)[free] for g in guesses]
        n_r = int(self.n_restarts if n_restarts is None else n_restarts)
        if n_r:
            blo, bhi = self._start_box(X, y)
            for _ in range(n_r):
                starts.append(rng.uniform(blo, bhi)[free])
        lo_f, hi_f = lo[free], hi[free]
        fun = self._residual_fn(X, y, w, full0, free)
        best: Solution | None = None
        n_agree = 0
        n_run = 0
        for s in starts:
            if n_agree >= _N_AGREE:
                break  # enough independent starts reached the same minimum
            n_run += 1
            s = np.minimum(np.maximum(s, lo_f), hi_f)
            try:
                res = optimize.least_squares(
                    fun,
                    s,
                    bounds=(lo_f, hi_f),
                    loss=self.loss,
                    f_scale=float(self.f_scale),
                    x_scale="jac",
                    max_nfev=self.max_nfev,
                    method="trf",
                )
            except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. non-finite start
                res = optimize.OptimizeResult(
                    x=s,
                    cost=np.inf,
                    fun=fun(s),
                    jac=np.zeros((len(y), len(s))),
                    nfev=1,
                    success=False,
                    status=-1,
                    message=str(exc),
                    active_mask=np.zeros(len(s), dtype=int),
                )
            if best is not None and math.isclose(float(res.cost), float(best.res.cost), rel_tol=1e-7, abs_tol=1e-14):
                n_agree += 1
            if best is None or float(res.cost) < float(best.res.cost) - 1e-15:
                if best is None or not math.isclose(float(res.cost), float(best.res.cost), rel_tol=1e-7, abs_tol=1e-14):
                    n_agree = 1
                full = full0.copy()
                full[free] = res.x
                init = full0.copy()
                init[free] = s
                best = Solution(theta=full, res=res, init=init)
        assert best is not None
        best.extra["n_starts"] = n_run
        return best

    def _finish(
        self,
        X: FloatArray,
        y: FloatArray,
        w: FloatArray,
        names: Sequence[str],
        free: NDArray[np.bool_],
        sol: Solution,
    ) -> None:
        """Set the fitted attributes from the chosen start: parameters, covariance, intervals, diagnostics."""
        theta, res = sol.theta, sol.res
        n_points, n_free = len(y), int(free.sum())
        dof = n_points - n_free
        with np.errstate(all="ignore"):
            resid = self._model(theta, X) - y
        rss = float(np.sum(w * resid**2))
        active = np.asarray(res.active_mask) != 0
        cov, errorbars = _gauss_newton_covariance(res, active, free, rss=rss, dof=dof, n_params=len(names))
        level = float(self.interval)
        stderr = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
        intervals = _wald_intervals(names, theta, free, stderr, level=level, dof=dof)
        interval_method = "wald"
        self.params_ = {nm: float(v) for nm, v in zip(names, theta, strict=False)}
        self._theta_ = theta
        self._names_ = tuple(names)
        self._free_ = free
        if int(self.n_bootstrap) > 0 and dof >= 0 and n_points >= 2:
            boot = self._bootstrap(X, y, w, names, free, sol)
            if boot.shape[0] >= 2:
                self.bootstrap_params_ = boot
                interval_method = "bootstrap"
                intervals.update(_percentile_intervals(names, boot, level=level))
        corr_pairs, all_corr = _correlations(names, free, cov, stderr) if errorbars else ([], [])
        aic, bic = _information_criteria(rss, n_points=n_points, n_free=n_free)
        self.covariance_ = cov
        self.intervals_ = intervals
        self.diagnostics_ = {
            "success": bool(res.success) and math.isfinite(rss),
            "message": str(res.message),
            "n_points": n_points,
            "n_params": n_free,
            "dof": dof,
            "nfev": int(res.nfev),
            "cost": float(res.cost),
            "rmse": math.sqrt(float(np.mean(resid**2))),
            "aic": aic,
            "bic": bic,
            "loss": self.loss,
            "f_scale": float(self.f_scale),
            "active_bounds": [
                nm for nm, a in zip([m for m, f in zip(names, free, strict=False) if f], active, strict=False) if a
            ],
            "errorbars": errorbars,
            "correlated_pairs": corr_pairs,
            "all_correlations": all_corr,
            "stderr": {nm: float(s) for nm, s in zip(names, stderr, strict=False)},
            "init_params": {nm: float(v) for nm, v in zip(names, sol.init, strict=False)},
            "interval_method": interval_method,
            "fixed": sorted(dict(self.fixed or {})),
            **sol.extra,
        }
        self._postprocess(X, y)

    def _bootstrap(
        self,
        X: FloatArray,
        y: FloatArray,
        w: FloatArray,
        names: Sequence[str],
        free: NDArray[np.bool_],
        sol: Solution,
    ) -> FloatArray:
        rng = as_generator(self.random_state)
        # consume the restart draws so bootstrap samples differ from restarts
        rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        n = len(y)
        out = []
        for _ in range(int(self.n_bootstrap)):
            idx = rng.integers(0, n, n)
            if len(np.unique(idx)) < int(free.sum()):
                continue
            Xb, yb, wb = X[idx], y[idx], w[idx]
            try:
                s = self._solve_from(Xb, yb, wb, names, free, sol.theta)
            except (ValueError, np.linalg.LinAlgError):
                continue
            out.append(s)
        return np.array(out, dtype=float).reshape(-1, len(names))

    def _solve_from(
        self,
        X: FloatArray,
        y: FloatArray,
        w: FloatArray,
        names: Sequence[str],
        free: NDArray[np.bool_],
        theta0: FloatArray,
    ) -> FloatArray:
        lo, hi = self._bounds(X, y)
        fun = self._residual_fn(X, y, w, theta0.copy(), free)
        s = np.clip(theta0[free], lo[free], hi[free])
        res = optimize.least_squares(
            fun,
            s,
            bounds=(lo[free], hi[free]),
            loss=self.loss,
            f_scale=float(self.f_scale),
            x_scale="jac",
            max_nfev=self.max_nfev,
            method="trf",
        )
        full = theta0.copy()
        full[free] = res.x
        return full

    # ------------------------------------------------------------------ from params
    def _adopt_params(self, params: Mapping[str, float]) -> tuple[str, ...]:
        """Set any state implied by the parameter names; return them in model order."""
        names = self._all_param_names(None)
        check_param_names(self.name, params, names)
        return names

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, float],
        *,
        covariance: Any = None,
        **options: Any,
    ) -> Self:
        """An estimator that predicts with given parameters, without fitting.

        Parameters
        ----------
        params : mapping of str to float
            Parameter values as in ``FitResult.params``.
        covariance : array-like of shape (n_params, n_params), optional
            Parameter covariance in ``params_`` order; enables ``predict_interval`` (normal
            quantile, since the fit's degrees of freedom are unknown here).
        **options
            Constructor options of the law.
        """
        est = cls(**options)
        est._validate_options()
        if not isinstance(params, Mapping):
            raise ScalingInputError("params must be an object of name: value", field="params")
        names = est._adopt_params(params)
        theta = np.empty(len(names))
        for i, nm in enumerate(names):
            try:
                theta[i] = float(params[nm])
            except (TypeError, ValueError) as exc:
                raise ScalingInputError(
                    f"parameter {nm!r} must be a number, got {params[nm]!r}", field=f"params.{nm}"
                ) from exc
            if not math.isfinite(theta[i]):
                raise ScalingInputError(f"parameter {nm!r} must be finite, got {theta[i]!r}", field=f"params.{nm}")
        est.params_ = {nm: float(v) for nm, v in zip(names, theta, strict=False)}
        est._theta_ = theta
        est._names_ = names
        est._free_ = np.ones(len(names), dtype=bool)
        cov = np.full((len(names), len(names)), np.nan)
        errorbars = False
        if covariance is not None:
            c = np.asarray(covariance, dtype=float)
            if c.shape != cov.shape or not np.all(np.isfinite(c)):
                raise ScalingInputError(
                    f"covariance must be a finite {len(names)}x{len(names)} matrix in the order {list(names)}",
                    field="covariance",
                )
            cov, errorbars = c, True
        est.covariance_ = cov
        est.intervals_ = {nm: (float("nan"), float("nan")) for nm in names}
        est.diagnostics_ = {
            "errorbars": errorbars,
            "dof": 10**9,
            "success": True,
            "message": "parameters given, not fitted",
        }
        return est

    # ------------------------------------------------------------------ predict
    def predict(self, x: Any) -> FloatArray:
        """Predicted ``y`` at ``x`` (same shapes as :meth:`fit`)."""
        check_is_fitted(self)
        X = self._design(x)
        self._check_domain(X, None)
        with np.errstate(all="ignore"):
            out = np.asarray(self._model(self._theta_, X), dtype=float)
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"law {self.name!r} has no finite prediction at point {i} (value {out[i]}); "
                "the input is outside the range these parameters support",
                field=f"x[{i}]",
            )
        return out

    def predict_interval(self, x: Any, level: float | None = None) -> tuple[FloatArray, FloatArray]:
        """Confidence band ``(lower, upper)`` of the fitted curve at ``x``.

        Uses the bootstrap draws when the law was fitted with ``n_bootstrap > 0``,
        otherwise the delta method on ``covariance_`` with a Student-t quantile.
        Bounds are ``NaN`` when no uncertainty is estimable (``dof == 0`` or a
        parameter at a bound, see ``diagnostics_["errorbars"]``).
        """
        check_is_fitted(self)
        lvl = float(self.interval if level is None else level)
        if not 0.0 < lvl < 1.0:
            raise ScalingInputError(f"level must be in (0, 1), got {level!r}", field="level")
        X = self._design(x)
        self._check_domain(X, None)
        mean = np.asarray(self._model(self._theta_, X), dtype=float)
        boot = getattr(self, "bootstrap_params_", None)
        if boot is not None:
            with np.errstate(all="ignore"):
                preds = np.array([self._model(t, X) for t in boot])
            preds = preds[np.all(np.isfinite(preds), axis=1)]
            lo = np.percentile(preds, 50 * (1 - lvl), axis=0)
            hi = np.percentile(preds, 50 * (1 + lvl), axis=0)
            return np.minimum(lo, mean), np.maximum(hi, mean)
        if not self.diagnostics_["errorbars"]:
            nan = np.full_like(mean, np.nan)
            return nan, nan.copy()
        G = self._prediction_jacobian(X)
        var = np.einsum("ij,jk,ik->i", G, np.nan_to_num(self.covariance_), G)
        tq = float(stats.t.ppf(0.5 + lvl / 2, max(int(self.diagnostics_["dof"]), 1)))
        half = tq * np.sqrt(np.maximum(var, 0.0))
        return mean - half, mean + half

    def _prediction_jacobian(self, X: FloatArray) -> FloatArray:
        theta = self._theta_
        G = np.zeros((X.shape[0], len(theta)))
        for i in range(len(theta)):
            if not self._free_[i]:
                continue
            h = 1e-6 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            with np.errstate(all="ignore"):
                G[:, i] = (self._model(tp, X) - self._model(tm, X)) / (2 * h)
        return np.nan_to_num(G)

    def score(self, x: Any, y: Any) -> float:
        """Mean squared error of :meth:`predict` on held-out points (lower is better)."""
        yv = as_vector(y, what="y", law=self.name)
        pred = self.predict(x)
        if len(pred) != len(yv):
            raise ScalingInputError(f"x has {len(pred)} points but y has {len(yv)}", field="points")
        return float(np.mean((pred - yv) ** 2))

    def result(self) -> FitResult:
        """The fit as a frozen :class:`FitResult`."""
        check_is_fitted(self)
        return FitResult(
            law=self.name,
            params=dict(self.params_),
            intervals=dict(self.intervals_),
            diagnostics=dict(self.diagnostics_),
            level=float(self.interval),
        )


def _gauss_newton_covariance(
    res: Any, active: NDArray[np.bool_], free: NDArray[np.bool_], *, rss: float, dof: int, n_params: int
) -> tuple[FloatArray, bool]:
    """(covariance of every parameter, whether it was estimable): s²·(JᵀJ)⁻¹ on the raw (unweighted-by-loss)
    residuals for the free parameters, NaN elsewhere; not estimable with no degrees of freedom, a
    non-finite or rank-deficient Jacobian, or a parameter at a bound."""
    cov = np.full((n_params, n_params), np.nan)
    jacobian = np.asarray(res.jac, dtype=float)
    if not (dof > 0 and jacobian.size and np.all(np.isfinite(jacobian)) and not active.any()):
        return cov, False
    with np.errstate(all="ignore"):
        jtj = jacobian.T @ jacobian
    try:
        if np.all(np.isfinite(jtj)) and np.linalg.matrix_rank(jtj) == int(free.sum()):
            c_free = np.linalg.inv(jtj) * (rss / dof)
            if np.all(np.isfinite(c_free)) and np.all(np.diag(c_free) >= 0):
                idx = np.flatnonzero(free)
                cov[np.ix_(idx, idx)] = c_free
                return cov, True
    except np.linalg.LinAlgError:
        pass
    return cov, False


def _wald_intervals(
    names: Sequence[str], theta: FloatArray, free: NDArray[np.bool_], stderr: FloatArray, *, level: float, dof: int
) -> dict[str, tuple[float, float]]:
    """θ ± t(level, dof)·stderr per free parameter; a fixed one's interval is its value."""
    tq = float(stats.t.ppf(0.5 + level / 2, max(dof, 1)))
    intervals: dict[str, tuple[float, float]] = {}
    for i, nm in enumerate(names):
        if not free[i]:
            intervals[nm] = (float(theta[i]), float(theta[i]))
        else:
            intervals[nm] = (float(theta[i] - tq * stderr[i]), float(theta[i] + tq * stderr[i]))
    return intervals


def _percentile_intervals(names: Sequence[str], boot: FloatArray, *, level: float) -> dict[str, tuple[float, float]]:
    """Bootstrap percentile intervals, one per parameter (a column of ``boot``)."""
    qlo, qhi = 50 * (1 - level), 50 * (1 + level)
    return {
        nm: (float(np.percentile(boot[:, i], qlo)), float(np.percentile(boot[:, i], qhi))) for i, nm in enumerate(names)
    }


def _correlations(
    names: Sequence[str], free: NDArray[np.bool_], cov: FloatArray, stderr: FloatArray
) -> tuple[list[list[Any]], list[list[Any]]]:
    """(pairs with |r| >= 0.5, every pair) of free parameters as ``[name_a, name_b, r]``."""
    corr_pairs: list[list[Any]] = []
    all_corr: list[list[Any]] = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if free[i] and free[j] and stderr[i] > 0 and stderr[j] > 0:
                r = float(cov[i, j] / (stderr[i] * stderr[j]))
                all_corr.append([names[i], names[j], r])
                if abs(r) >= 0.5:
                    corr_pairs.append([names[i], names[j], r])
    return corr_pairs, all_corr


def _information_criteria(rss: float, *, n_points: int, n_free: int) -> tuple[float, float]:
    """(AIC, BIC) of a least-squares fit, n·ln(RSS/n) + penalty; −inf for an exact fit."""
    if not rss > 0:  # an exact fit (or a non-finite one)
        return -math.inf, -math.inf
    aic = n_points * math.log(rss / n_points) + 2 * n_free
    bic = n_points * math.log(rss / n_points) + math.log(n_points) * n_free
    return aic, bic
