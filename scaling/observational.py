# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Observational scaling laws: PCA capabilities, sigmoid link, FLOPs cut-off hold-out.

Notes
-----
Pipeline for one target (Ruan et al. 2024, as released in ``ryoungj/ObsScaling``):

1. :func:`flops_cutoff_split` (train = FLOPs <= cutoff; unknown FLOPs go to test) or
   :func:`top_fraction_split` (test = top ⌊0.1 n⌋ by the target).
2. :class:`CapabilityPCA` fitted on the training rows only: rank-1 iterative PCA imputation
   of missing benchmark cells in z-scored space (1000 sweeps, clipped to [0, 1]), then a
   centred (unscaled) PCA; ``transform`` imputes and projects test rows with the training
   scaler and PCA.
3. :class:`ObservationalLaw` fits y ≈ g(w·S + c) with g = σ, or (1 - b)σ + b with a floor
   0 <= b <= 0.2, on the chance/ceiling-normalised target.

Symbols → names: S_m = capability vector (``PC-1..PC-K``), C = training FLOPs, θ_f, ν_f =
family compute-efficiency slope and offset (:func:`family_compute_efficiency`).

References
----------
.. [1] Ruan, Y., Maddison, C. J., Hashimoto, T. (2024). "Observational Scaling Laws and the
   Predictability of Language Model Performance". arXiv:2405.10938v3 (NeurIPS 2024),
   Sec. 3 (σ^{-1}(E_m) ≈ βᵀS_m + α; S_m ≈ θ_f log C_m + ν_f), Sec. 4 (hold-out protocol),
   code ``ryoungj/ObsScaling`` @4d6e1e4 (``utils/data.py``: ``pca_impute``,
   ``fit_multivariate_regression_model``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize  # type: ignore[import-untyped, unused-ignore]

from .base import BaseLaw, Solution
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, as_design, as_vector, check_param_names

__all__ = [
    "CapabilityPCA",
    "FamilyEfficiency",
    "ObservationalLaw",
    "family_compute_efficiency",
    "flops_cutoff_split",
    "normalize_score",
    "pca_impute",
    "top_fraction_split",
]


# ---------------------------------------------------------------------------- PCA
def _svd_pca(X: FloatArray, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Centred PCA via SVD: returns (mean, components (k, n_features), explained variance)."""
    mean = X.mean(axis=0)
    Xc = X - mean
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    # deterministic signs: the largest-|loading| entry of each component is positive
    idx = np.argmax(np.abs(vt), axis=1)
    signs = np.sign(vt[np.arange(vt.shape[0]), idx])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    var = s**2 / max(X.shape[0] - 1, 1)
    return mean, vt[:k], var


def pca_impute(
    train: Any,
    test: Any = None,
    *,
    n_components: int = 1,
    max_iter: int = 1000,
    tol: float = 1e-4,
    boundary: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[FloatArray, FloatArray | None]:
    """Iterative PCA imputation of NaN cells (Ruan et al.'s ``pca_impute``).

    Standardises columns with the training mean and population std (NaN ignored), fills
    missing z-scores with 0, then repeatedly refits a rank-``n_components`` PCA and
    overwrites only the missing cells with the reconstruction. Test rows use the training
    scaler and the last training PCA. Results are un-standardised and clipped to
    ``boundary``.

    Returns
    -------
    train_filled, test_filled : ndarray
        Copies with NaN cells imputed (``test_filled`` is None without ``test``).
    """
    A = np.array(train, dtype=float)
    if A.ndim != 2 or A.shape[0] < 2:
        raise ScalingInputError(f"benchmark matrix must be 2-D with >= 2 rows, got shape {A.shape}", field="points")
    if np.any(np.isinf(A)):
        raise ScalingInputError("benchmark matrix contains inf", field="points")
    miss = np.isnan(A)
    if np.any(miss.all(axis=0)):
        j = int(np.flatnonzero(miss.all(axis=0))[0])
        raise ScalingInputError(f"benchmark column {j} has no observed value in the training rows", field="points")
    mu = np.nanmean(A, axis=0)
    sd = np.nanstd(A, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (A - mu) / sd
    col_mean = np.nanmean(Z, axis=0)
    Z = np.where(miss, col_mean, Z)
    pm, comps = np.zeros(A.shape[1]), np.zeros((n_components, A.shape[1]))
    if miss.any():
        for _ in range(max_iter):
            pm, comps, _v = _svd_pca(Z, n_components)
            recon = (Z - pm) @ comps.T @ comps + pm
            if np.allclose(Z, recon, atol=tol):
                break
            Z[miss] = recon[miss]
    else:
        pm, comps, _v = _svd_pca(Z, n_components)
    out = Z * sd + mu
    if boundary is not None:
        out = np.clip(out, boundary[0], boundary[1])
    out_test = None
    if test is not None:
        T = np.array(test, dtype=float)
        if T.ndim != 2 or T.shape[1] != A.shape[1]:
            raise ScalingInputError(f"test matrix must have {A.shape[1]} columns, got shape {T.shape}", field="points")
        tmiss = np.isnan(T)
        Zt = (T - mu) / sd
        Zt = np.where(tmiss, col_mean, Zt)
        if tmiss.any():
            for _ in range(max_iter):
                recon = (Zt - pm) @ comps.T @ comps + pm
                if np.allclose(Zt, recon, atol=tol):
                    break
                Zt[tmiss] = recon[tmiss]
        out_test = Zt * sd + mu
        if boundary is not None:
            out_test = np.clip(out_test, boundary[0], boundary[1])
    return out, out_test


class CapabilityPCA:
    """Principal capability measures from a benchmark-score matrix (fit on train rows only).

    Parameters
    ----------
    n_components : int
        Number of PCs kept (the paper uses K = 3 of a 5-component PCA).
    impute : bool
        Impute NaN cells with :func:`pca_impute` before the PCA.
    max_iter : int
        Imputation sweeps.

    Attributes
    ----------
    mean_ : ndarray of shape (n_benchmarks,)
    components_ : ndarray of shape (n_components, n_benchmarks)
        Loadings; each row's largest-magnitude entry is positive.
    explained_variance_ratio_ : ndarray of shape (n_components,)
    """

    def __init__(self, *, n_components: int = 3, impute: bool = True, max_iter: int = 1000) -> None:
        self.n_components = n_components
        self.impute = impute
        self.max_iter = max_iter

    def get_params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "impute": self.impute, "max_iter": self.max_iter}

    def fit(self, benchmarks: Any) -> CapabilityPCA:
        """Fit imputation and PCA on the training benchmark matrix (n_models, n_benchmarks)."""
        A = np.array(benchmarks, dtype=float)
        if A.ndim != 2:
            raise ScalingInputError(f"benchmarks must be 2-D, got shape {A.shape}", field="points")
        k = int(self.n_components)
        if not 1 <= k <= min(A.shape):
            raise ScalingInputError(
                f"n_components must be in [1, min(n_models, n_benchmarks)] = [1, {min(A.shape)}], got {k}",
                field="options.n_components",
            )
        self._train_raw_ = A
        if self.impute:
            filled, _ = pca_impute(A, max_iter=self.max_iter)
        else:
            if np.any(~np.isfinite(A)):
                raise ScalingInputError("benchmarks contain NaN/inf and impute=False", field="points")
            filled = A
        mean, comps, var = _svd_pca(filled, min(filled.shape))
        self.mean_ = mean
        self.components_ = comps[:k]
        self.explained_variance_ratio_ = var[:k] / var.sum()
        self.train_filled_ = filled
        return self

    def transform(self, benchmarks: Any) -> FloatArray:
        """PC scores (n_models, n_components); NaN cells imputed with the training model."""
        check_is_fitted(self, ("components_",))
        T = np.array(benchmarks, dtype=float)
        if T.ndim != 2 or T.shape[1] != self.components_.shape[1]:
            raise ScalingInputError(
                f"benchmarks must have {self.components_.shape[1]} columns, got {T.shape}",
                field="points",
            )
        if np.isnan(T).any() and self.impute:
            _, T2 = pca_impute(self._train_raw_, T, max_iter=self.max_iter)
            assert T2 is not None
            T = T2
        elif np.isnan(T).any():
            raise ScalingInputError("benchmarks contain NaN and impute=False", field="points")
        return np.asarray((T - self.mean_) @ self.components_.T, dtype=float)

    def fit_transform(self, benchmarks: Any) -> FloatArray:
        """Fit, then return the training rows' PC scores."""
        self.fit(benchmarks)
        return np.asarray((self.train_filled_ - self.mean_) @ self.components_.T, dtype=float)


# ---------------------------------------------------------------------------- splits
def flops_cutoff_split(flops: Any, cutoff: float) -> NDArray[np.bool_]:
    """Training mask for the FLOPs cut-off hold-out: FLOPs <= cutoff (unknown → test)."""
    f = np.asarray(flops, dtype=float).reshape(-1)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(f) & (f <= cutoff), dtype=bool)


def top_fraction_split(y: Any, fraction: float = 0.1) -> NDArray[np.bool_]:
    """Training mask that holds out the top ⌊fraction·n⌋ models by ``y`` (agents protocol)."""
    v = as_vector(y, what="y", law="observational")
    n_test = int(fraction * v.size)
    if not 0 < n_test < v.size:
        raise ScalingInputError(f"fraction {fraction} of {v.size} models gives {n_test} test models", field="options")
    order = np.argsort(-v, kind="stable")
    mask = np.ones(v.size, dtype=bool)
    mask[order[:n_test]] = False
    return mask


def normalize_score(y: Any, chance: float = 0.0, ceiling: float = 1.0) -> FloatArray:
    """Chance/ceiling normalisation (y - chance) / (ceiling - chance)."""
    if not ceiling > chance:
        raise ScalingInputError(f"ceiling ({ceiling}) must exceed chance ({chance})", field="options.ceiling")
    v = np.asarray(y, dtype=float)
    return np.asarray((v - chance) / (ceiling - chance), dtype=float)


# ---------------------------------------------------------------------------- family fit
@dataclass(frozen=True)
class FamilyEfficiency:
    """Per-family compute efficiency S ≈ θ_f log C + ν_f (one OLS line per PC)."""

    family: str
    theta: FloatArray
    nu: FloatArray
    r2: FloatArray
    n_models: int

    def capabilities(self, log_compute: Any) -> FloatArray:
        """Predicted capability vectors (n, K) at ``log_compute`` (same log base as the fit)."""
        lc = np.asarray(log_compute, dtype=float).reshape(-1, 1)
        return np.asarray(lc * self.theta + self.nu, dtype=float)


def family_compute_efficiency(
    log_compute: Any, capabilities: Any, families: Any, *, min_models: int = 2
) -> dict[str, FamilyEfficiency]:
    """Fit S_m ≈ θ_f log C_m + ν_f per family (Ruan et al. Sec. 3).

    Families with fewer than ``min_models`` models with known compute are skipped.
    """
    lc = np.asarray(log_compute, dtype=float).reshape(-1)
    S = np.asarray(capabilities, dtype=float)
    if S.ndim == 1:
        S = S.reshape(-1, 1)
    fam = np.asarray(families, dtype=object).reshape(-1)
    if not (lc.size == S.shape[0] == fam.size):
        raise ScalingInputError("log_compute, capabilities and families differ in length", field="points")
    out: dict[str, FamilyEfficiency] = {}
    for f in dict.fromkeys(fam.tolist()):
        m = (fam == f) & np.isfinite(lc)
        if m.sum() < max(2, min_models) or np.ptp(lc[m]) == 0:
            continue
        A = np.column_stack([lc[m], np.ones(int(m.sum()))])
        coef, *_ = np.linalg.lstsq(A, S[m], rcond=None)
        pred = A @ coef
        ss_res = np.sum((S[m] - pred) ** 2, axis=0)
        ss_tot = np.sum((S[m] - S[m].mean(axis=0)) ** 2, axis=0)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 1.0)
        out[str(f)] = FamilyEfficiency(str(f), coef[0], coef[1], r2, int(m.sum()))
    return out


# ---------------------------------------------------------------------------- link law
class ObservationalLaw(BaseLaw):
    """Sigmoid link from capability vectors to a (normalised) downstream score.

    ŷ = chance + (ceiling - chance) · g(w·S + c), g(z) = σ(z) or (1 - b)σ(z) + b.

    ``x``: an ``(n_points, K)`` array of capability measures (PC scores) — or one column
    such as ln FLOPs for the compute baseline; a list of K-element rows or a 1-D list for
    K = 1 also work. ``y``: raw score (normalised internally with ``chance``/``ceiling``).

    Parameters
    ----------
    chance, ceiling : float
        Normalisation y' = (y - chance)/(ceiling - chance) (e.g. GPQA chance 0.25).
    floor : bool
        Fit the floor b in [0, ``floor_max``] ("sigmoid-parametric", fixed height).
    floor_max : float
        Upper bound of the floor (paper 0.2).
    solver : {"trf", "minimize"}
        ``"trf"``: robust least squares (engine default). ``"minimize"``: the paper's
        ``scipy.optimize.minimize`` on the summed Huber loss (delta = ``f_scale``) with
        BFGS, or L-BFGS-B when a floor is fitted — use for paper-parity reproductions;
        like the paper it accepts fewer points than parameters (>= 2 points).
    **kwargs
        Engine options. Fits always start from the paper's p0 = (0, 0.03, ..., 0.03[, 0]).

    Attributes
    ----------
    params_ : dict
        ``intercept``, ``w1`` .. ``wK`` and, with ``floor=True``, ``floor``.
    n_features_in_ : int
    """

    name = "observational"
    input_names = ("capabilities",)
    _numeric_options = ("chance", "ceiling", "floor_max")

    def __init__(
        self,
        *,
        chance: float = 0.0,
        ceiling: float = 1.0,
        floor: bool = False,
        floor_max: float = 0.2,
        solver: str = "trf",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("n_restarts", 0)
        super().__init__(**kwargs)
        self.chance = chance
        self.ceiling = ceiling
        self.floor = floor
        self.floor_max = floor_max
        self.solver = solver

    def _design(self, x: Any, *, what: str = "x") -> FloatArray:
        return as_design(x, None, law=self.name, what=what)

    def _k(self, X: FloatArray | None) -> int:
        if X is not None:
            return int(X.shape[1])
        return int(getattr(self, "n_features_in_", 1))

    def _adopt_params(self, params: Any) -> tuple[str, ...]:
        k = sum(1 for key in params if key.startswith("w") and key[1:].isdigit())
        if k == 0:
            raise ScalingInputError(
                "observational params need 'intercept', 'w1'..'wK' and optionally 'floor'",
                field="params",
            )
        self.floor = "floor" in params
        self.n_features_in_ = k
        names = self._all_param_names(None)
        check_param_names(self.name, params, names)
        return names

    def _all_param_names(self, X: FloatArray | None = None) -> tuple[str, ...]:
        names = ["intercept"] + [f"w{i + 1}" for i in range(self._k(X))]
        if self.floor:
            names.append("floor")
        return tuple(names)

    def _g(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        k = X.shape[1]
        z = theta[0] + X @ theta[1 : 1 + k]
        s = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
        if self.floor:
            b = theta[1 + k]
            s = (1.0 - b) * s + b
        return np.asarray(s, dtype=float)

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        # the engine fits on the normalised scale; predict() rescales
        return self._g(theta, X)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        if not float(self.ceiling) > float(self.chance):
            raise ScalingInputError(
                f"ceiling ({self.ceiling}) must exceed chance ({self.chance})",
                field="options.ceiling",
            )
        if not 0.0 < float(self.floor_max) < 1.0:
            raise ScalingInputError(f"floor_max must be in (0, 1), got {self.floor_max}", field="options.floor_max")
        if self.solver not in ("trf", "minimize"):
            raise ScalingInputError(f"solver must be 'trf' or 'minimize', got {self.solver!r}", field="options.solver")
        if y is None and hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ScalingInputError(
                f"x has {X.shape[1]} capability columns, the fit used {self.n_features_in_}",
                field="points",
            )

    def _min_points(self, n_free: int) -> int:
        # paper parity: the released notebooks fit 5 parameters on 4 models (budget 4)
        return 2 if self.solver == "minimize" else n_free

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        k = X.shape[1] + 1
        lo, hi = np.full(k, -np.inf), np.full(k, np.inf)
        if self.floor:
            lo, hi = np.append(lo, 0.0), np.append(hi, float(self.floor_max))
        return lo, hi

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        p0 = np.concatenate([[0.0], np.full(X.shape[1], 0.03)])
        if self.floor:
            p0 = np.append(p0, 0.0)
        return [p0]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        lo, hi = self._bounds(X, y)
        return np.maximum(lo, -3.0), np.minimum(hi, 3.0)

    def fit(self, x: Any, y: Any, sample_weight: Any = None) -> ObservationalLaw:
        """Fit on capability rows ``x`` and raw scores ``y``; returns self."""
        if hasattr(self, "n_features_in_"):
            del self.n_features_in_
        self._validate_options()
        self._check_domain(np.zeros((1, 1)), np.zeros(1))
        yv = as_vector(y, what="y", law=self.name)
        super().fit(x, normalize_score(yv, float(self.chance), float(self.ceiling)), sample_weight)
        self.n_features_in_ = int(self._design(x).shape[1])
        self.diagnostics_["solver"] = self.solver
        return self

    def predict(self, x: Any) -> FloatArray:
        """Predicted raw score (chance + (ceiling - chance) · g)."""
        check_is_fitted(self)
        return float(self.chance) + (float(self.ceiling) - float(self.chance)) * super().predict(x)

    def predict_normalized(self, x: Any) -> FloatArray:
        """Prediction on the normalised (chance = 0, ceiling = 1) scale."""
        return super().predict(x)

    def predict_interval(self, x: Any, level: float | None = None) -> tuple[FloatArray, FloatArray]:
        lo, hi = super().predict_interval(x, level)
        s = float(self.ceiling) - float(self.chance)
        return float(self.chance) + s * lo, float(self.chance) + s * hi

    def _solve(self, X: FloatArray, y: FloatArray, w: FloatArray, names: Any, free: Any, **kw: Any) -> Solution:
        if self.solver == "trf":
            return super()._solve(X, y, w, names, free, **kw)
        if self.fixed:
            raise ScalingInputError("fixed parameters are not supported with solver='minimize'", field="options.fixed")
        p0 = self._initial_guesses(X, y)[0]
        delta = float(self.f_scale)

        def objective(p: FloatArray) -> float:
            r = self._g(p, X) - y
            a = np.abs(r)
            h = np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))
            return float(np.sum(w * h))

        if self.floor:
            lo, hi = self._bounds(X, y)
            bnds = [
                (None if not math.isfinite(a) else a, None if not math.isfinite(b) else b)
                for a, b in zip(lo, hi, strict=False)
            ]
            res = optimize.minimize(objective, p0, method="L-BFGS-B", bounds=bnds)
        else:
            res = optimize.minimize(objective, p0, method="BFGS")
        theta = np.asarray(res.x, dtype=float)
        # Jacobian of the residuals for the covariance (finite differences)
        J = np.zeros((len(y), len(theta)))
        for i in range(len(theta)):
            h = 1e-6 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            J[:, i] = np.sqrt(w) * (self._g(tp, X) - self._g(tm, X)) / (2 * h)
        active = np.zeros(len(theta), dtype=int)
        if self.floor:
            b = theta[-1]
            active[-1] = int(b <= 1e-10 or b >= float(self.floor_max) - 1e-10)
        out = optimize.OptimizeResult(
            x=theta,
            cost=float(res.fun),
            jac=J,
            nfev=int(res.nfev),
            success=bool(res.success),
            status=int(res.status),
            message=str(res.message),
            active_mask=active,
        )
        return Solution(theta=theta, res=out, init=p0)
