"""GPT-2: Conv1D layers with biases everywhere, learned absolute positions, LayerNorms, tied lm_head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    return Layout(
        (
            LinearModule("attn.c_attn", hidden, 3 * hidden, True, "attention"),
            LinearModule("attn.c_proj", hidden, hidden, True, "attention"),
            LinearModule("mlp.c_fc", hidden, inter, True, "mlp"),
            LinearModule("mlp.c_proj", inter, hidden, True, "mlp"),
        ),
        norm="layernorm",
        norm_bias=True,
        learned_position_embeddings=shape.max_position_embeddings,
    )


register_family(
    Family(
        name="gpt2",
        model_types=("gpt2",),
        build=_layout,
        mlp_output_modules=("mlp.c_proj",),
        tie_word_embeddings=True,
        default_intermediate_factor=4,
        ia3_target_modules=("c_attn", "mlp.c_proj"),
        ia3_feedforward_modules=("mlp.c_proj",),
    )
)
