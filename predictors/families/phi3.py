"""Phi-3: fused qkv_proj and gate_up_proj, no biases, RMSNorms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, attention
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    return Layout(
        (
            *attention(("qkv_proj", "o_proj"), shape, qkv_bias=False, out_bias=False),
            LinearModule("gate_up_proj", hidden, 2 * inter, False, "mlp"),
            LinearModule("down_proj", inter, hidden, False, "mlp"),
        )
    )


register_family(
    Family(
        name="phi3",
        model_types=("phi3",),
        build=_layout,
        ia3_target_modules=("qkv_proj", "down_proj"),
    )
)
