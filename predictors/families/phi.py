"""Phi-1/1.5/2: parallel attention + MLP under one LayerNorm, biases everywhere, biased lm_head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, attention
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    return Layout(
        (
            *attention(("q_proj", "k_proj", "v_proj", "dense"), shape, qkv_bias=True, out_bias=True),
            LinearModule("fc1", hidden, inter, True, "mlp"),
            LinearModule("fc2", inter, hidden, True, "mlp"),
        ),
        norm="layernorm",
        norm_bias=True,
        norms_per_layer=1,
        lm_head_bias=True,
        parallel_blocks=True,
    )


register_family(
    Family(
        name="phi",
        model_types=("phi",),
        build=_layout,
        mlp_output_modules=("fc2",),
        default_intermediate_factor=4,
        ia3_target_modules=("q_proj", "v_proj", "fc2"),
        ia3_feedforward_modules=("fc2",),
    )
)
