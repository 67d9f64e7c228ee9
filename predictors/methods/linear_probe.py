"""Linear probe: a classification head on frozen mean-pooled hidden states.

References
----------
Alain and Bengio 2016, "Understanding intermediate layers using linear classifier probes",
arXiv:1610.01644; the COSMOS proxy (Wang et al. 2025, arXiv:2505.01449, Sec. 4.1).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["LinearProbeConfig"]


class LinearProbeConfig(MethodConfig):
    name: Literal["linear_probe"] = "linear_probe"
    num_labels: int = Field(2, ge=2, le=100000, description="Classes of the task (head output width).")
    pooling: Literal["mean", "last"] = Field("mean", description="How token states are pooled into one vector.")


def linear_probe_trainable_params(arch: Architecture, config: Any) -> int:
    return arch.hidden_size * int(config.num_labels) + int(config.num_labels)


def linear_probe_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """One forward pass to pooled hidden states (no lm_head, no backward into the model) and a tiny head."""
    return CostTerms(head_only=True)


register_method(
    MethodSpec(
        name="linear_probe",
        config_cls=LinearProbeConfig,
        kind="finetune",
        summary="Logistic-regression head on frozen pooled hidden states.",
        reference="Alain and Bengio 2016, arXiv:1610.01644",
        trainable_params=linear_probe_trainable_params,
        cost_terms=linear_probe_cost_terms,
        worker_plan=lambda config: {
            "train": True,
            "trainable": {},
            "head": {"num_labels": config.num_labels, "pooling": config.pooling},
        },
        proxy=True,
        task_kinds=frozenset({"classification"}),
    )
)
