"""AdaLoRA: LoRA in SVD form (P·Λ·Q) whose rank budget is re-allocated across matrices while training.

References
----------
Zhang et al. 2023, "AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning",
arXiv:2303.10512, Eq. 3 (W = W0 + P·Λ·Q, P ∈ R^{d_out×r}, Λ diagonal, Q ∈ R^{r×d_in}) and Sec. 3.2
(importance-scored pruning of Λ down to ``target_r`` on average; the pruned entries are masked, not removed,
so parameters and memory stay those of ``init_r``). peft 0.21 ``AdaLoraModel``: per matrix ``lora_A`` (r × d_in),
``lora_E`` (r × 1), ``lora_B`` (d_out × r) train and ``ranknum`` (1) is a frozen parameter; the forward is
x·(A ⊙ E)ᵀ·Bᵀ (LoRA's two per-token products); the worker calls ``update_and_allocate`` after every optimizer
step. The orthogonality regulariser (Eq. 4) is added by peft only to a loss the model computes itself; the
worker's token loss does not include it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["AdaloraConfig"]


class AdaloraConfig(LinearTargetsConfig):
    """AdaLoRA parameters, with peft's names and defaults (``delta_t`` is peft's ``deltaT``)."""

    name: Literal["adalora"] = "adalora"
    init_r: int = Field(12, ge=1, le=4096, description="Initial rank of every adapted matrix.")
    target_r: int = Field(8, ge=1, le=4096, description="Average rank the budget prunes down to.")
    alpha: float = Field(8.0, gt=0, le=1e6, description="Scaling numerator (peft's lora_alpha).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    tinit: int = Field(0, ge=0, le=10**7, description="Warm-up steps before the budget starts pruning.")
    tfinal: int = Field(0, ge=0, le=10**7, description="Final steps trained at the pruned ranks.")
    delta_t: int = Field(1, ge=1, le=10**7, description="Steps between two budget allocations.")

    @model_validator(mode="after")
    def _target_below_init(self) -> AdaloraConfig:
        if self.target_r > self.init_r:
            raise ValueError(f"target_r ({self.target_r}) must not exceed init_r ({self.init_r})")
        return self


def adalora_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, r·(d_in + d_out) + r at r = ``init_r`` (pruning masks Λ, keeps the shapes)."""
    r = int(config.init_r)
    modules = linear_targets(arch, config, method="AdaLoRA")
    return arch.num_hidden_layers * sum(r * (m.in_features + m.out_features) + r for m in modules)


def adalora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's per-token products at rank ``init_r``, plus one frozen ``ranknum`` per adapted matrix."""
    modules = linear_targets(arch, config, method="AdaLoRA")
    return CostTerms(
        adapter_ranks=tuple((m.name, int(config.init_r)) for m in modules),
        added_frozen_params=arch.num_hidden_layers * len(modules),
    )


def adalora_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "AdaLoraConfig",
        "peft_kwargs": {
            "init_r": config.init_r,
            "target_r": config.target_r,
            "lora_alpha": config.alpha,
            "lora_dropout": config.dropout,
            "tinit": config.tinit,
            "tfinal": config.tfinal,
            "deltaT": config.delta_t,
            "target_modules": config.target_modules,
        },
        "peft_run_kwargs": {"total_step": "steps"},
        "after_step": "update_and_allocate",
    }


register_method(
    MethodSpec(
        name="adalora",
        config_cls=AdaloraConfig,
        kind="finetune",
        summary="LoRA in SVD form with its rank budget re-allocated by importance while training.",
        reference="Zhang et al. 2023, arXiv:2303.10512",
        trainable_params=adalora_trainable_params,
        worker_plan=adalora_worker_plan,
        cost_terms=adalora_cost_terms,
        examples=({"init_r": 6, "target_r": 2, "target_modules": "all-linear"},),
    )
)
