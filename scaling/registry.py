# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""The law registry and the functional core behind ``POST /v1/scaling/fit`` and ``/predict``.

``LAWS`` is keyed by the product's law names; ``COMPONENT_LAWS`` holds the auxiliary fitted
maps (densing stages, the log-likelihood-to-accuracy link, a plain power law) that
:func:`fit_law` and :func:`predict_law` also accept by name.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .accuracy_map import LoglikAccuracyMap, PowerLaw
from .base import BaseLaw
from .chinchilla import ChinchillaLaw
from .densing import DensingLaw, DensingLossLaw, DensingTrendLaw, LossScoreSigmoid
from .errors import ScalingInputError
from .finetune import JointFinetuneLaw, RectifiedDataLaw
from .icl import IclShotLaw
from .inputs import FloatArray
from .observational import ObservationalLaw
from .passuntil import TaskScalingLaw
from .result import FitResult

__all__ = [
    "COMPONENT_LAWS",
    "LAWS",
    "LawSpec",
    "PredictResult",
    "fit_law",
    "get_law",
    "make_law",
    "predict_law",
]


@dataclass(frozen=True)
class LawSpec:
    """One registered law: its estimator class and the documented point shapes."""

    name: str
    estimator: type[BaseLaw]
    x_format: str
    y_format: str
    params: str
    reference: str


def _spec(name: str, est: type[BaseLaw], x: str, y: str, params: str, ref: str) -> LawSpec:
    return LawSpec(name, est, x, y, params, ref)


LAWS: Mapping[str, LawSpec] = MappingProxyType(
    {
        "chinchilla": _spec(
            "chinchilla",
            ChinchillaLaw,
            'per point {"n_params": N, "n_tokens": D} (or [N, D]); N parameters, D training tokens',
            "pre-training loss, nats/token (> 0)",
            "E, A, B, alpha, beta",
            "Hoffmann et al. 2022, arXiv:2203.15556, Eq. 2",
        ),
        "densing": _spec(
            "densing",
            DensingLaw,
            'options.stage="loss" (default): {"n_params", "n_tokens"}; "score": loss (number); '
            '"trend": days since Llama-1 release (number)',
            "loss (nats/token) | score | density (> 0)",
            "loss: a, alpha, b, beta; score: c, gamma, l, d; trend: A, B",
            "Xiao et al. 2024, arXiv:2412.04315v2, Eqs. 2, 3, 5",
        ),
        "observational": _spec(
            "observational",
            ObservationalLaw,
            "capability vector per point: [PC-1, ..., PC-K] (or one number, e.g. ln FLOPs)",
            "downstream score; normalised with options.chance / options.ceiling",
            "intercept, w1..wK[, floor]",
            "Ruan et al. 2024, arXiv:2405.10938, Sec. 3",
        ),
        "passuntil": _spec(
            "passuntil",
            TaskScalingLaw,
            "model size N in parameters (number)",
            "task-level PassUntil pass probability, strictly in (0, 1)",
            "c, alpha",
            "Hu et al. 2024, arXiv:2310.03262v3, Eq. 3",
        ),
        "icl_shots": _spec(
            "icl_shots",
            IclShotLaw,
            "number of in-context shots d >= 0 (number)",
            "accuracy in [0, 1]",
            "exponential: alpha, beta, pi0; power: a, b, pi0; loglinear: a, b",
            "Wang et al. 2025 (COSMOS), arXiv:2505.01449v1, Eq. 5",
        ),
        "rectified_data": _spec(
            "rectified_data",
            RectifiedDataLaw,
            "number of fine-tuning examples D >= 0 (number)",
            "fine-tuning test loss (> 0)",
            "B, D_l, beta, E",
            "Lin et al. 2024, arXiv:2402.02314",
        ),
        "joint_finetune": _spec(
            "joint_finetune",
            JointFinetuneLaw,
            'per point {"factor": X, "n_examples": D_f} (or [X, D_f]); X model/PET params or pre-training tokens',
            "fine-tuning test loss (> 0)",
            "A, alpha, beta, E",
            "Zhang et al. 2024, arXiv:2402.17193, Eq. 1",
        ),
    }
)

COMPONENT_LAWS: Mapping[str, LawSpec] = MappingProxyType(
    {
        "densing_loss": _spec(
            "densing_loss",
            DensingLossLaw,
            '{"n_params", "n_tokens"}',
            "loss",
            "a, alpha, b, beta",
            "Xiao et al. 2024, Eq. 2",
        ),
        "densing_score": _spec(
            "densing_score", LossScoreSigmoid, "loss (number)", "score", "c, gamma, l, d", "Xiao et al. 2024, Eq. 3"
        ),
        "densing_trend": _spec(
            "densing_trend",
            DensingTrendLaw,
            "days since Llama-1 (number)",
            "density (> 0)",
            "A, B",
            "Xiao et al. 2024, Eq. 5",
        ),
        "loglik_accuracy": _spec(
            "loglik_accuracy",
            LoglikAccuracyMap,
            "mean log-likelihood of the correct answer (number)",
            "accuracy in [0, 1]",
            "k, x0",
            "Schaeffer et al. 2024, arXiv:2406.04391",
        ),
        "power_law": _spec(
            "power_law",
            PowerLaw,
            "x > 0 (number)",
            "continuous quantity",
            "E, A, alpha",
            "Schaeffer et al. 2024 (continuous step)",
        ),
    }
)


def get_law(name: str) -> LawSpec:
    """The :class:`LawSpec` for ``name``; unknown names raise :class:`ScalingInputError`."""
    spec = LAWS.get(name) or COMPONENT_LAWS.get(name)
    if spec is None:
        raise ScalingInputError(
            f"unknown law {name!r}; known: {sorted(LAWS)} (components: {sorted(COMPONENT_LAWS)})",
            field="law",
        )
    return spec


def make_law(name: str, **options: Any) -> BaseLaw:
    """An unfitted estimator for ``name`` with constructor ``options``."""
    est_cls = get_law(name).estimator
    try:
        return est_cls(**options)
    except TypeError as exc:
        raise ScalingInputError(f"invalid options for law {name!r}: {exc}", field="options") from exc


def fit_law(name: str, x: Any, y: Any, *, sample_weight: Any = None, **options: Any) -> FitResult:
    """Fit law ``name`` to points and return a frozen :class:`~scaling.result.FitResult`.

    Parameters
    ----------
    name : str
        A key of :data:`LAWS` or :data:`COMPONENT_LAWS`.
    x : list, array or dict
        Inputs in the law's ``x_format`` (see :data:`LAWS`).
    y : sequence of float
        Observations in the law's ``y_format``.
    sample_weight : sequence of float, optional
    **options
        Constructor options: ``loss``, ``f_scale``, ``n_restarts``, ``interval``,
        ``n_bootstrap``, ``fixed``, ``random_state``, ``max_nfev`` and law-specific ones.

    Raises
    ------
    ScalingInputError
        Invalid input (its ``field`` names the bad point or option). Non-convergence is
        not an error: ``result.diagnostics["success"]`` is then False.
    """
    return make_law(name, **options).fit(x, y, sample_weight).result()


@dataclass(frozen=True)
class PredictResult:
    """What ``POST /v1/scaling/predict`` returns: ``y`` and, if known, ``lower``/``upper``."""

    y: list[float]
    lower: list[float] | None
    upper: list[float] | None
    level: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"y": self.y, "lower": self.lower, "upper": self.upper, "level": self.level}


def predict_law(
    name: str,
    params: Mapping[str, float],
    x: Any,
    *,
    level: float | None = None,
    intervals: Mapping[str, Any] | None = None,
    covariance: Any = None,
    options: Mapping[str, Any] | None = None,
) -> PredictResult:
    """Evaluate law ``name`` with given ``params`` at ``x``.

    Uncertainty, in order of preference:

    * ``covariance`` (n_params x n_params in ``params`` order): delta-method band at
      ``level`` (default 0.9) with a normal quantile;
    * ``intervals`` (``FitResult.intervals``): min/max of the curve over the corners of
      the parameter box — a conservative band at the fit's level (``level`` is ignored);
    * neither: ``lower`` and ``upper`` are ``None``.

    ``options`` are the law's constructor options that affect prediction (e.g. ``chance``
    and ``ceiling`` for observational, ``stage`` is inferred for densing).
    """
    est = get_law(name).estimator.from_params(params, covariance=covariance, **dict(options or {}))
    y = est.predict(x)
    lower: FloatArray | None = None
    upper: FloatArray | None = None
    out_level: float | None = None
    if covariance is not None:
        lvl = 0.9 if level is None else float(level)
        lower, upper = est.predict_interval(x, lvl)
        out_level = lvl
    elif intervals is not None:
        lower, upper = _corner_band(name, params, intervals, x, options)
        if lower is not None and upper is not None:
            lower, upper = np.minimum(lower, y), np.maximum(upper, y)
    return PredictResult(
        y=[float(v) for v in y],
        lower=None if lower is None else [float(v) for v in lower],
        upper=None if upper is None else [float(v) for v in upper],
        level=out_level,
    )


def _corner_band(
    name: str,
    params: Mapping[str, float],
    intervals: Mapping[str, Any],
    x: Any,
    options: Mapping[str, Any] | None,
) -> tuple[FloatArray | None, FloatArray | None]:
    names = list(params)
    ranges = []
    for nm in names:
        iv = intervals.get(nm)
        if iv is None:
            raise ScalingInputError(f"intervals lacks parameter {nm!r}", field=f"intervals.{nm}")
        lo, hi = float(iv[0]), float(iv[1])
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ScalingInputError(
                f"interval of {nm!r} must be finite with lower <= upper, got {list(iv)}",
                field=f"intervals.{nm}",
            )
        ranges.append((lo, hi) if lo < hi else (lo,))
    corners = list(itertools.islice(itertools.product(*ranges), 4096))
    preds = []
    for c in corners:
        est = get_law(name).estimator.from_params(dict(zip(names, c, strict=True)), **dict(options or {}))
        try:
            preds.append(est.predict(x))
        except ScalingInputError:
            continue  # this corner has no finite prediction here; the band uses the others
    if not preds:
        return None, None
    P = np.array(preds)
    return np.min(P, axis=0), np.max(P, axis=0)
