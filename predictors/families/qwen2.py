"""Qwen2: a Llama-style block whose q/k/v projections always carry biases (o_proj none)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_modules
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return Layout(llama_modules(config, shape, qkv_bias=True))


register_family(
    Family(
        name="qwen2",
        model_types=("qwen2",),
        build=_layout,
        ia3_target_modules=("q_proj", "v_proj", "down_proj"),  # peft 0.21 scales queries, not keys, here
    )
)
