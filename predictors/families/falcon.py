"""Falcon: fused query_key_value (multi-query in the 7B layout, grouped in the new decoder architecture),
LayerNorms, attention and MLP in parallel by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, attention, flag, positive_int
from predictors.families.registry import register_family


def _key_value_heads(config: Mapping[str, Any], heads: int) -> int:
    """FalconConfig: one KV head under ``multi_query`` (old layout), ``num_kv_heads`` in the new one."""
    multi_query = flag(config, "multi_query", True)
    new_arch = flag(config, "new_decoder_architecture", False)
    default_kv = 1 if (multi_query and not new_arch) else heads
    return positive_int(config, "num_kv_heads", default_kv) if new_arch else default_kv


def _norms_per_layer(config: Mapping[str, Any]) -> int:
    if flag(config, "new_decoder_architecture", False):
        return 2 if config.get("num_ln_in_parallel_attn", 2) == 2 else 1
    return 1 if flag(config, "parallel_attn", True) else 2


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    hidden, inter = shape.hidden_size, shape.intermediate_size
    bias = flag(config, "bias", False)
    return Layout(
        (
            *attention(("query_key_value", "dense"), shape, qkv_bias=bias, out_bias=bias),
            LinearModule("dense_h_to_4h", hidden, inter, bias, "mlp"),
            LinearModule("dense_4h_to_h", inter, hidden, bias, "mlp"),
        ),
        norm="layernorm",
        norm_bias=True,
        norms_per_layer=_norms_per_layer(config),
        parallel_blocks=bool(config.get("parallel_attn", True)) or bool(config.get("new_decoder_architecture")),
    )


register_family(
    Family(
        name="falcon",
        model_types=("falcon",),
        build=_layout,
        mlp_output_modules=("dense_4h_to_h",),
        tie_word_embeddings=True,
        default_intermediate_factor=4,
        key_value_heads=_key_value_heads,
        ia3_target_modules=("query_key_value", "dense_4h_to_h"),
        ia3_feedforward_modules=("dense_4h_to_h",),
    )
)
