"""LoRA: low-rank adapters on selected linear layers.

References
----------
Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685, Sec. 4
(ΔW = B·A with B ∈ R^{d_out×r}, A ∈ R^{r×d_in}: r·(d_in + d_out) parameters per adapted matrix).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec, match_target_modules
from predictors.methods.registry import register_method

__all__ = ["LoraConfig", "lora_cost_terms", "lora_trainable_params", "lora_worker_plan", "resolve_targets"]


class LoraConfig(MethodConfig):
    """LoRA parameters, with peft's names and defaults where they exist."""

    name: Literal["lora"] = "lora"
    rank: int = Field(16, ge=1, le=4096, description="Adapter rank r.")
    alpha: float = Field(32.0, gt=0, le=1e6, description="Scaling numerator: ΔW is scaled by alpha / rank.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description='Hugging Face module names to adapt (suffix match, as peft does), or "all-linear".',
    )

    @field_validator("target_modules")
    @classmethod
    def _targets_not_empty(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            if not value:
                raise ValueError("must name at least one module, or be 'all-linear'")
            if value == ["all-linear"]:
                return "all-linear"
            for name in value:
                if not name or len(name) > 128:
                    raise ValueError(f"module name {name!r} must be 1 to 128 characters")
        return value


def resolve_targets(arch: Architecture, config: Any, *, field: str = "method.target_modules") -> list[Any]:
    """The modules ``config.target_modules`` selects; an error naming the field when none match."""
    modules = match_target_modules(arch, config.target_modules)
    if not modules:
        available = ", ".join(m.name for m in arch.linear_modules)
        raise InvalidInputError(
            field,
            f"{config.target_modules!r} matches no linear layer of a {arch.model_type} model; it has: {available}",
        )
    return modules


def lora_trainable_params(arch: Architecture, config: Any) -> int:
    """Σ over adapted matrices of r·(d_in + d_out), per layer and per expert (Hu et al. 2021)."""
    per_layer = sum(config.rank * (m.in_features + m.out_features) * m.n_experts for m in resolve_targets(arch, config))
    return int(arch.num_hidden_layers * per_layer)


def lora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Adapters B·A on each targeted module: 2·r·(d_in + d_out) extra forward FLOPs per token each."""
    ranks = tuple((m.name, int(config.rank)) for m in resolve_targets(arch, config))
    return CostTerms(adapter_ranks=ranks)


def lora_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_type": "LORA",
        "peft_kwargs": {
            "r": config.rank,
            "lora_alpha": config.alpha,
            "lora_dropout": config.dropout,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="lora",
        config_cls=LoraConfig,
        kind="finetune",
        summary="Low-rank adapters on chosen linear layers; base weights frozen.",
        reference="Hu et al. 2021, arXiv:2106.09685",
        trainable_params=lora_trainable_params,
        worker_plan=lora_worker_plan,
        cost_terms=lora_cost_terms,
    )
)
