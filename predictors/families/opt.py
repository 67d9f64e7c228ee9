"""OPT: separate projections with biases, LayerNorms, learned positions offset by 2 rows, tied lm_head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, attention, flag
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    bias = flag(config, "enable_bias", True)
    assumptions: tuple[str, ...] = ()
    if config.get("word_embed_proj_dim", hidden) != hidden:
        assumptions = ("OPT word_embed_proj_dim != hidden_size: projection layers not counted",)
    return Layout(
        (
            *attention(("q_proj", "k_proj", "v_proj", "out_proj"), shape, qkv_bias=bias, out_bias=bias),
            LinearModule("fc1", hidden, inter, bias, "mlp"),
            LinearModule("fc2", inter, hidden, bias, "mlp"),
        ),
        norm="layernorm",
        norm_bias=True,
        # OPTLearnedPositionalEmbedding keeps 2 extra rows (its padding offset).
        learned_position_embeddings=shape.max_position_embeddings + 2,
        assumptions=assumptions,
    )


register_family(
    Family(
        name="opt",
        model_types=("opt",),
        build=_layout,
        mlp_output_modules=("fc2",),
        tie_word_embeddings=True,
        default_intermediate_factor=4,
        ia3_target_modules=("q_proj", "k_proj", "fc2"),
        ia3_feedforward_modules=("fc2",),
    )
)
