"""VeRA: one pair of frozen random matrices shared by every adapted layer, and two trained scaling vectors each.

References
----------
Kopiczko et al. 2024, "VeRA: Vector-based Random Matrix Adaptation", arXiv:2310.11454, Eq. 2
(h = W0·x + Λ_b·B·Λ_d·A·x with A ∈ R^{r×d_in}, B ∈ R^{d_out×r} frozen and shared; Λ_d ∈ R^r, Λ_b ∈ R^{d_out}
trained), and peft's ``VeraModel`` (0.21): A and B are sized by the largest adapted input and output widths and
sliced per layer; they are fp32 buffers (``save_projection`` keeps them in the checkpoint).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["VeraConfig"]


class VeraConfig(LinearTargetsConfig):
    """VeRA parameters, with peft's names and defaults where they exist."""

    name: Literal["vera"] = "vera"
    rank: int = Field(256, ge=1, le=65536, description="Rank r of the shared random projections A and B.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    d_initial: float = Field(0.1, gt=0.0, le=10.0, description="Initial value of every entry of the vector d.")


def _targets(arch: Architecture, config: Any) -> list[LinearModule]:
    return linear_targets(arch, config, method="VeRA")


def _shared_projection_params(modules: list[LinearModule], rank: int) -> int:
    """A (r × largest d_in) and B (largest d_out × r), once for the whole model."""
    return rank * max(m.in_features for m in modules) + max(m.out_features for m in modules) * rank


def vera_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, Λ_d (r) and Λ_b (d_out) (Kopiczko et al. 2024, Sec. 3.2)."""
    rank = int(config.rank)
    return arch.num_hidden_layers * sum(rank + m.out_features for m in _targets(arch, config))


def vera_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's per-token path x·Aᵀ·Bᵀ at rank r with A, B frozen (no weight-gradient matmuls, x not kept), the
    scaled output kept for Λ_b's gradient, and the shared projections as frozen fp32 weights."""
    modules = _targets(arch, config)
    rank = int(config.rank)
    return CostTerms(
        adapter_ranks=tuple((m.name, rank) for m in modules),
        adapter_factors_trainable=False,
        adapter_saved_outputs=1,
        added_frozen_params=_shared_projection_params(modules, rank),
    )


def vera_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "VeraConfig",
        "peft_kwargs": {
            "r": config.rank,
            "vera_dropout": config.dropout,
            "d_initial": config.d_initial,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="vera",
        config_cls=VeraConfig,
        kind="finetune",
        summary="Frozen shared random low-rank projections with trained scaling vectors per layer.",
        reference="Kopiczko et al. 2024, arXiv:2310.11454",
        trainable_params=vera_trainable_params,
        worker_plan=vera_worker_plan,
        cost_terms=vera_cost_terms,
        examples=({"rank": 64, "target_modules": "all-linear"},),
    )
)
