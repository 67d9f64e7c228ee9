"""OLMoE: routed SwiGLU experts behind ``mlp.gate`` and full-width q/k RMSNorms (OlmoeAttention)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape, flag, gated_mlp, routed_block, routed_experts
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    experts, per_token, inter = routed_experts(config, shape)
    qkv_bias = flag(config, "attention_bias", False)
    return Layout(
        routed_block(
            shape, qkv_bias=qkv_bias, router="mlp.gate", experts=gated_mlp(shape.hidden_size, inter, False, experts)
        ),
        num_experts=experts,
        num_experts_per_token=per_token,
        qk_norm_params_per_layer=(shape.num_attention_heads + shape.num_key_value_heads) * shape.head_dim,
    )


register_family(Family(name="olmoe", model_types=("olmoe",), build=_layout, fused_expert_pair=("gate_proj", "up_proj")))
