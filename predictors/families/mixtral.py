"""Mixtral: sparse MoE with experts w1/w3 (gate, up) and w2 (down) behind ``block_sparse_moe.gate``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, routed_block, routed_experts
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    experts, per_token, inter = routed_experts(config, shape)
    hidden = shape.hidden_size
    expert_modules = (
        LinearModule("w1", hidden, inter, False, "mlp", experts),
        LinearModule("w2", inter, hidden, False, "mlp", experts),
        LinearModule("w3", hidden, inter, False, "mlp", experts),
    )
    return Layout(
        routed_block(shape, qkv_bias=False, router="block_sparse_moe.gate", experts=expert_modules),
        num_experts=experts,
        num_experts_per_token=per_token,
    )


register_family(
    Family(
        name="mixtral",
        model_types=("mixtral",),
        build=_layout,
        mlp_output_modules=("w2",),
        ia3_target_modules=("k_proj", "v_proj", "w2"),
        ia3_feedforward_modules=("w2",),
        fused_expert_pair=("w1", "w3"),
    )
)
