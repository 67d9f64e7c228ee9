"""DoRA: LoRA's direction update plus a trained magnitude vector per adapted matrix.

References
----------
Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation", arXiv:2402.09353, Eq. 5
(W' = m · (W0 + BA)/‖W0 + BA‖_c, m ∈ R^{1×d_out}).
"""

from __future__ import annotations

from typing import Any, Literal

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodSpec
from predictors.methods.lora import (
    LoraConfig,
    lora_cost_terms,
    lora_trainable_params,
    lora_worker_plan,
    resolve_targets,
)
from predictors.methods.registry import register_method

__all__ = ["DoraConfig"]


class DoraConfig(LoraConfig):
    """LoRA's parameters; DoRA adds no knob of its own (peft: ``use_dora=True``)."""

    name: Literal["dora"] = "dora"  # type: ignore[assignment]


def dora_trainable_params(arch: Architecture, config: Any) -> int:
    """LoRA's count plus one magnitude entry per output feature of each adapted matrix."""
    magnitudes = sum(m.out_features * m.n_experts for m in resolve_targets(arch, config))
    return int(lora_trainable_params(arch, config) + arch.num_hidden_layers * magnitudes)


def dora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's terms plus, per adapted matrix and forward, the column norm of W0 + B·A (2·r·d_in·d_out FLOPs)."""
    return CostTerms(adapter_ranks=lora_cost_terms(arch, config).adapter_ranks, dora=True)


def dora_worker_plan(config: Any) -> dict[str, Any]:
    plan = lora_worker_plan(config)
    plan["peft_kwargs"]["use_dora"] = True
    return plan


register_method(
    MethodSpec(
        name="dora",
        config_cls=DoraConfig,
        kind="finetune",
        summary="LoRA with a separately trained magnitude vector per adapted matrix.",
        reference="Liu et al. 2024, arXiv:2402.09353",
        trainable_params=dora_trainable_params,
        worker_plan=dora_worker_plan,
        cost_terms=dora_cost_terms,
        parent="lora",
    )
)
