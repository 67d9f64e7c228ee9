"""DoRA: LoRA's direction update plus a trained magnitude vector per adapted matrix.

References
----------
Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation", arXiv:2402.09353, Eq. 5
(W' = m · (W0 + BA)/‖W0 + BA‖_c, m ∈ R^{1×d_out}).
"""

from __future__ import annotations

from typing import Any, Literal

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodSpec
from predictors.methods.lora import (
    LoraAdapter,
    LoraConfig,
    lora_cost_terms,
    lora_trainable_params,
    lora_worker_plan,
    peft_lora_adapters,
)
from predictors.methods.registry import register_method

__all__ = ["DoraConfig"]


class DoraConfig(LoraConfig):
    """LoRA's parameters; DoRA adds no knob of its own (peft: ``use_dora=True``)."""

    name: Literal["dora"] = "dora"  # type: ignore[assignment]


def _dora_adapters(arch: Architecture, config: Any) -> list[LoraAdapter]:
    """LoRA's adapters; peft refuses DoRA on MoE expert parameters and routers (``lora.ParamWrapper``)."""
    adapters = peft_lora_adapters(arch, config)
    wrapped = sorted({m.name for a in adapters if a.parameter_wrapped for m in a.modules})
    if wrapped:
        raise InvalidInputError(
            "method.target_modules",
            f"peft cannot apply DoRA to {arch.model_type} routed experts or router ({', '.join(wrapped)}: 3-D "
            "parameters in transformers >= 5, adapted by lora.ParamWrapper, which does not support use_dora); "
            "target the attention projections only",
        )
    return adapters


def dora_trainable_params(arch: Architecture, config: Any) -> int:
    """LoRA's count plus one magnitude entry per output feature of each adapted matrix."""
    magnitudes = sum(a.out_features * a.n_experts for a in _dora_adapters(arch, config))
    return int(lora_trainable_params(arch, config) + arch.num_hidden_layers * magnitudes)


def dora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's terms plus, per adapted matrix and forward, the column norm of W0 + B·A (2·r·d_in·d_out FLOPs,
    once per forward), the norm-scaled output kept for the backward, and three times the adapter kernels."""
    modules = {m.name: m for a in _dora_adapters(arch, config) for m in a.modules}
    lora = lora_cost_terms(arch, config)
    weight_flops = tuple(
        (name, 2.0 * modules[name].out_features * rank * modules[name].in_features) for name, rank in lora.adapter_ranks
    )
    return CostTerms(
        adapter_ranks=lora.adapter_ranks,
        adapter_weight_flops=weight_flops,
        adapter_saved_outputs=1,
        adapter_kernels_factor=3,
        assumptions=lora.assumptions,
    )


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
        examples=({"rank": 16},),
    )
)
