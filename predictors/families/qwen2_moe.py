"""Qwen2-MoE: routed SwiGLU experts behind ``mlp.gate``, plus a shared expert every token passes through."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import (
    Family,
    Layout,
    LinearModule,
    Shape,
    flag,
    gated_mlp,
    positive_int,
    routed_block,
    routed_experts,
)
from predictors.families.registry import register_family

__all__ = ["dense_layers_assumption"]


def dense_layers_assumption(config: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """Qwen-MoE configs may keep some layers dense (``decoder_sparse_step``, ``mlp_only_layers``): not modelled."""
    step = config.get("decoder_sparse_step", 1)
    if step not in (None, 1) or config.get("mlp_only_layers"):
        return (f"{name} dense (mlp_only / sparse-step) layers counted as MoE layers",)
    return ()


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    experts, per_token, inter = routed_experts(config, shape)
    hidden = shape.hidden_size
    qkv_bias = flag(config, "qkv_bias", True)
    # Qwen2MoeSparseMoeBlock: a dense SwiGLU expert scaled by a sigmoid gate (one output); both are nn.Linear,
    # so they count in the active path.
    shared_inter = positive_int(config, "shared_expert_intermediate_size", shape.intermediate_size)
    return Layout(
        (
            *routed_block(
                shape, qkv_bias=qkv_bias, router="mlp.gate", experts=gated_mlp(hidden, inter, False, experts)
            ),
            *gated_mlp(hidden, shared_inter, False, prefix="shared_expert."),
            LinearModule("shared_expert_gate", hidden, 1, False, "router"),
        ),
        num_experts=experts,
        num_experts_per_token=per_token,
        assumptions=dense_layers_assumption(config, "qwen2_moe"),
    )


register_family(
    Family(
        name="qwen2_moe",
        model_types=("qwen2_moe",),
        build=_layout,
        mlp_output_modules=("down_proj", "shared_expert.down_proj"),
        routed_experts_adaptable=False,  # no v4 -> v5 target conversion in peft 0.21 for this model type
    )
)
