"""Qwen3-MoE: routed SwiGLU experts behind ``mlp.gate`` and per-head q/k RMSNorms, no shared expert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape, flag, gated_mlp, routed_block, routed_experts
from predictors.families.qwen2_moe import dense_layers_assumption
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
        qk_norm_params_per_layer=2 * shape.head_dim,  # Qwen3MoeAttention.q_norm/k_norm over head_dim
        assumptions=dense_layers_assumption(config, "qwen3_moe"),
    )


register_family(
    Family(name="qwen3_moe", model_types=("qwen3_moe",), build=_layout, fused_expert_pair=("gate_proj", "up_proj"))
)
