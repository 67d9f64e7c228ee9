"""Full fine-tuning: every base weight trains (gradients and optimizer states over all N parameters).

References
----------
Kaplan et al. 2020, arXiv:2001.08361, Sec. 2.1 (training cost C ≈ 6N per token).
"""

from __future__ import annotations

from typing import Any, Literal

from predictors.architecture import Architecture, count_parameters
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["FullConfig"]


class FullConfig(MethodConfig):
    """Full fine-tuning has no method parameters; precision and optimizer live in ``training``."""

    name: Literal["full"] = "full"


def full_trainable_params(arch: Architecture, config: Any) -> int:
    return count_parameters(arch).total_params


def full_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Every weight trains: weight- and input-gradients everywhere (≈ 6N FLOPs per token)."""
    return CostTerms(base_trainable=True, adapter_params_are_new=False)


register_method(
    MethodSpec(
        name="full",
        config_cls=FullConfig,
        kind="finetune",
        summary="Update every weight of the base model.",
        reference="Kaplan et al. 2020, arXiv:2001.08361",
        trainable_params=full_trainable_params,
        worker_plan=lambda config: {"train": True, "trainable": {"every": True}},
        base_weights_trainable=True,
        cost_terms=full_cost_terms,
        default_for_runs=True,
        calibration_family="full",
    )
)
