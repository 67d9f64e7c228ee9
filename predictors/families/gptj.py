"""GPT-J: read as a Llama-style block (its own layout is not modelled), with attention and MLP in parallel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from predictors.families.base import Family, Layout, Shape
from predictors.families.llama import llama_layout
from predictors.families.registry import register_family


def _layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return replace(llama_layout(config, shape), parallel_blocks=True)


register_family(Family(name="gptj", model_types=("gptj",), build=_layout, known_layout=False))
