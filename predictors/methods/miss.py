"""MiSS (formerly Bone): one trained r × d_out matrix per layer, fed the input summed over d_in / r groups.

References
----------
Kang and Yin 2025, "MiSS: Balancing LoRA Performance and Efficiency with Simple Shard Sharing",
arXiv:2409.15371 (ΔW·x = D·Σ_g x_g over the r-wide input shards x_g, D ∈ R^{r×d_out} trained, initialised at
zero: r·d_out parameters per matrix), and peft 0.21 ``MissModel`` with its default initialisation: the forward
pads x to a multiple of r, sums the shards (no matmul) and adds ``sum @ D``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["MissConfig"]


class MissConfig(LinearTargetsConfig):
    """MiSS parameters, with peft's names and defaults (the default shard-sharing form only)."""

    name: Literal["miss"] = "miss"
    rank: int = Field(64, ge=1, le=65536, description="Shard width r (rows of the trained matrix).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")


def _modules(arch: Architecture, config: Any) -> list[LinearModule]:
    """The adapted modules; peft refuses a shard wider than a module's input."""
    modules = linear_targets(arch, config, method="MiSS")
    narrow = [m for m in modules if int(config.rank) > m.in_features]
    if narrow:
        raise InvalidInputError(
            "method.rank",
            f"must not exceed {narrow[0].name}'s {narrow[0].in_features} inputs (peft's MiSS), got {config.rank}",
        )
    return modules


def miss_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, r·d_out."""
    modules = _modules(arch, config)
    return arch.num_hidden_layers * sum(int(config.rank) * m.out_features for m in modules)


def miss_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A rank-r adapter whose first factor is the shard sum: only x̄·D (2·r·d_out FLOPs per token) runs."""
    modules = _modules(arch, config)
    return CostTerms(adapter_ranks=tuple((m.name, int(config.rank)) for m in modules), adapter_input_summed=True)


def miss_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "MissConfig",
        "peft_kwargs": {"r": config.rank, "miss_dropout": config.dropout, "target_modules": config.target_modules},
    }


register_method(
    MethodSpec(
        name="miss",
        config_cls=MissConfig,
        kind="finetune",
        summary="One trained matrix per layer fed the input summed over shards (LoRA-like, no down projection).",
        reference="Kang and Yin 2025, arXiv:2409.15371",
        trainable_params=miss_trainable_params,
        worker_plan=miss_worker_plan,
        cost_terms=miss_cost_terms,
        examples=({"rank": 16, "target_modules": "all-linear"},),
    )
)
