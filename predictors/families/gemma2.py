"""Gemma-2: Gemma with sandwich norms, four RMSNorms per block (input, post-attention, pre- and post-MLP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_modules
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return Layout(llama_modules(config, shape), norms_per_layer=4)


register_family(
    Family(
        name="gemma2",
        model_types=("gemma2",),
        build=_layout,
        tie_word_embeddings=True,
        ia3_target_modules=("q_proj", "v_proj", "down_proj"),  # peft 0.21 scales queries, not keys, here
    )
)
