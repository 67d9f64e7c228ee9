"""The cost model: parameters, FLOPs, peak memory, time and dollars for every candidate.

Entry points: :func:`estimate_costs` / :func:`estimate_cost` (``POST /v1/cost``); the pieces
(:func:`trace_training_pass`, :func:`training_memory`, :class:`EfficiencyCalibration`, the COSMOS
money equations) are public for the planner and the benchmarks. Pure Python + numpy/scipy; no torch.
"""

from __future__ import annotations

from predictors.cost.calibration import (
    CalibrationRow,
    EfficiencyCalibration,
    NotFittedError,
    default_calibration,
    method_family,
)
from predictors.cost.estimate import estimate_cost, estimate_costs, roofline_training_step
from predictors.cost.hardware import HardwareSpec, hardware_spec_from_catalog
from predictors.cost.memory import kv_cache_bytes, training_memory, weight_bytes_per_param
from predictors.cost.money import api_finetune_usd, cost_reduction_ratio, gpu_usd, prediction_cost_usd, total_cost_usd
from predictors.cost.passes import ModelPass, forward_flops, trace_training_pass
from predictors.cost.schemas import (
    CostCandidate,
    CostEstimate,
    EvaluationConfig,
    HardwareRequest,
    MemoryBreakdown,
    TrainingConfig,
    parse_candidate,
)

__all__ = [
    "CalibrationRow",
    "CostCandidate",
    "CostEstimate",
    "EfficiencyCalibration",
    "EvaluationConfig",
    "HardwareRequest",
    "HardwareSpec",
    "MemoryBreakdown",
    "ModelPass",
    "NotFittedError",
    "TrainingConfig",
    "api_finetune_usd",
    "cost_reduction_ratio",
    "default_calibration",
    "estimate_cost",
    "estimate_costs",
    "forward_flops",
    "gpu_usd",
    "hardware_spec_from_catalog",
    "kv_cache_bytes",
    "method_family",
    "parse_candidate",
    "prediction_cost_usd",
    "roofline_training_step",
    "total_cost_usd",
    "trace_training_pass",
    "training_memory",
    "weight_bytes_per_param",
]
