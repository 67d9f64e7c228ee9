"""Scaling laws and a robust fitting engine (pure numpy/scipy, no I/O).

Every law is an estimator (``fit(x, y, sample_weight=None)`` → self, ``predict(x)``,
``predict_interval(x, level)``) registered by its product name in :data:`LAWS`; the
functional core :func:`fit_law` / :func:`predict_law` backs ``POST /v1/scaling/fit`` and
``POST /v1/scaling/predict``.
"""

from .accuracy_map import LoglikAccuracyMap, PowerLaw, predict_two_step
from .base import BaseLaw, clone
from .chinchilla import ChinchillaLaw, compute_optimal_allocation
from .densing import (
    DensingLaw,
    DensingLossLaw,
    DensingTrendLaw,
    LossScoreSigmoid,
    density,
    doubling_time_days,
    effective_params,
    envelope_mask,
    loss_from_score,
)
from .errors import NotFittedError, ScalingInputError, check_is_fitted
from .finetune import JointFinetuneLaw, RectifiedDataLaw
from .icl import COSMOS_ICL_SD, IclShotLaw, ShotCurveAverage, solve_cosmos_anchors
from .observational import (
    CapabilityPCA,
    FamilyEfficiency,
    ObservationalLaw,
    family_compute_efficiency,
    flops_cutoff_split,
    normalize_score,
    pca_impute,
    top_fraction_split,
)
from .passuntil import (
    GrowthClassification,
    InstanceTaskScalingLaw,
    PassUntilEstimate,
    TaskScalingLaw,
    classify_growth,
    passuntil_estimate,
    passuntil_moments,
    simulate_passuntil,
)
from .registry import (
    COMPONENT_LAWS,
    LAWS,
    LawSpec,
    PredictResult,
    fit_law,
    get_law,
    make_law,
    predict_law,
)
from .result import FitResult
from .selection import heldout_errors, heldout_split_error, select_form

__all__ = [
    "COMPONENT_LAWS",
    "COSMOS_ICL_SD",
    "LAWS",
    "BaseLaw",
    "CapabilityPCA",
    "ChinchillaLaw",
    "DensingLaw",
    "DensingLossLaw",
    "DensingTrendLaw",
    "FamilyEfficiency",
    "FitResult",
    "GrowthClassification",
    "IclShotLaw",
    "InstanceTaskScalingLaw",
    "JointFinetuneLaw",
    "LawSpec",
    "LoglikAccuracyMap",
    "LossScoreSigmoid",
    "NotFittedError",
    "ObservationalLaw",
    "PassUntilEstimate",
    "PowerLaw",
    "PredictResult",
    "RectifiedDataLaw",
    "ScalingInputError",
    "ShotCurveAverage",
    "TaskScalingLaw",
    "check_is_fitted",
    "classify_growth",
    "clone",
    "compute_optimal_allocation",
    "density",
    "doubling_time_days",
    "effective_params",
    "envelope_mask",
    "family_compute_efficiency",
    "fit_law",
    "flops_cutoff_split",
    "get_law",
    "heldout_errors",
    "heldout_split_error",
    "loss_from_score",
    "make_law",
    "normalize_score",
    "passuntil_estimate",
    "passuntil_moments",
    "pca_impute",
    "predict_law",
    "predict_two_step",
    "select_form",
    "simulate_passuntil",
    "solve_cosmos_anchors",
    "top_fraction_split",
]
