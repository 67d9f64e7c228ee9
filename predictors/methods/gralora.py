"""GraLoRA: LoRA split into a k × k grid of sub-block adapters, each with its own rank-r factors.

References
----------
Jung et al. 2025, "GraLoRA: Granular Low-Rank Adaptation for Parameter-Efficient Fine-Tuning",
arXiv:2505.20355, Sec. 3 (W0 + ΔW with ΔW's k² blocks each B_ij·A_ij of rank r/k: r·(d_in + d_out) parameters
and LoRA's FLOPs at the same rank), and peft 0.21 ``GraloraModel`` (``hybrid_r`` = 0): per input slice an
r-wide A (an einsum, 2·d_in·r per token), regrouped, then per output slice B (2·r·d_out); d_in, d_out and r
must be multiples of k.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["GraloraConfig"]


class GraloraConfig(LinearTargetsConfig):
    """GraLoRA parameters, with peft's names and defaults (``k`` is peft's ``gralora_k``; no hybrid LoRA part)."""

    name: Literal["gralora"] = "gralora"
    rank: int = Field(32, ge=1, le=4096, description="Total rank r, split over the k sub-blocks of each row.")
    k: int = Field(2, ge=1, le=64, description="Sub-blocks per side of the grid.")
    alpha: float = Field(64.0, gt=0, le=1e6, description="Scaling numerator: ΔW is scaled by alpha / rank.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")


def _modules(arch: Architecture, config: Any) -> list[LinearModule]:
    """The adapted modules; peft's divisibility rules as errors naming the field."""
    k = int(config.k)
    if int(config.rank) % k:
        raise InvalidInputError("method.rank", f"must be a multiple of k ({k}), got {config.rank}")
    modules = linear_targets(arch, config, method="GraLoRA")
    for m in modules:
        if m.in_features % k or m.out_features % k:
            raise InvalidInputError(
                "method.k", f"must divide {m.name}'s {m.in_features} inputs and {m.out_features} outputs, got {k}"
            )
    return modules


def gralora_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, k sub-blocks of A (r × d_in/k) and of B (d_out/k × r): r·(d_in + d_out)."""
    rank = int(config.rank)
    return arch.num_hidden_layers * sum(rank * (m.in_features + m.out_features) for m in _modules(arch, config))


def gralora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's per-token products at rank r (the grid regroups the r-wide middle, it adds no FLOPs)."""
    return CostTerms(adapter_ranks=tuple((m.name, int(config.rank)) for m in _modules(arch, config)))


def gralora_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "GraloraConfig",
        "peft_kwargs": {
            "r": config.rank,
            "gralora_k": config.k,
            "alpha": config.alpha,
            "gralora_dropout": config.dropout,
            "hybrid_r": 0,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="gralora",
        config_cls=GraloraConfig,
        kind="finetune",
        summary="LoRA split into a k × k grid of independent sub-block adapters (same parameters and FLOPs).",
        reference="Jung et al. 2025, arXiv:2505.20355",
        trainable_params=gralora_trainable_params,
        worker_plan=gralora_worker_plan,
        cost_terms=gralora_cost_terms,
        examples=({"rank": 8, "k": 4, "target_modules": "all-linear"},),
    )
)
