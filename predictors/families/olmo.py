"""OLMo-1: a Llama-style block whose LayerNorms have neither weight nor bias (OlmoLayerNorm)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_modules
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return Layout(llama_modules(config, shape), norm="nonparametric")


register_family(Family(name="olmo", model_types=("olmo",), build=_layout))
