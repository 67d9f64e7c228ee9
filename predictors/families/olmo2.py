"""OLMo-2: a Llama-style block with full-width RMSNorms over the q and k projections' outputs (Olmo2Attention)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_modules
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    qk_norm = (shape.num_attention_heads + shape.num_key_value_heads) * shape.head_dim
    return Layout(llama_modules(config, shape), qk_norm_params_per_layer=qk_norm)


register_family(Family(name="olmo2", model_types=("olmo2",), build=_layout))
