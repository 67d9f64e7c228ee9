"""Qwen3: a Llama-style block with per-head RMSNorms over queries and keys (Qwen3Attention.q_norm/k_norm)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_modules
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return Layout(
        llama_modules(config, shape),
        qk_norm_params_per_layer=2 * shape.head_dim,
        assumptions=("qwen3 q/k norms counted as per-head RMSNorm weights",),
    )


register_family(
    Family(
        name="qwen3",
        model_types=("qwen3",),
        build=_layout,
        ia3_target_modules=("q_proj", "v_proj", "down_proj"),  # peft 0.21 scales queries, not keys, here
    )
)
