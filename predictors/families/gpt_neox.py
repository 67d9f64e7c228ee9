"""GPT-NeoX (Pythia): fused query_key_value, biased dense MLP, LayerNorms, parallel residual by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, flag
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    bias = flag(config, "attention_bias", True)
    return Layout(
        (
            LinearModule("query_key_value", hidden, 3 * hidden, bias, "attention"),
            LinearModule("dense", hidden, hidden, bias, "attention"),
            LinearModule("dense_h_to_4h", hidden, inter, True, "mlp"),
            LinearModule("dense_4h_to_h", inter, hidden, True, "mlp"),
        ),
        norm="layernorm",
        norm_bias=True,
        parallel_blocks=bool(config.get("use_parallel_residual", True)),
    )


register_family(
    Family(
        name="gpt_neox",
        model_types=("gpt_neox",),
        build=_layout,
        mlp_output_modules=("dense_4h_to_h",),
        default_intermediate_factor=4,
        ia3_target_modules=("query_key_value", "dense_4h_to_h"),
        ia3_feedforward_modules=("dense_4h_to_h",),
    )
)
