"""Adaptation methods: one module per method, each ending with one ``register_method`` call.

Importing this package registers every method (parents before their variants).
"""

from __future__ import annotations

from predictors.methods import (  # noqa: F401  (imported for registration)
    api_finetune,
    bitfit,
    dora,
    full,
    ia3,
    icl,
    linear_probe,
    ln_tuning,
    lora,
    prefix_tuning,
    prompt_tuning,
    qlora,
    rag_icl,
    top_k_layers,
    zero_shot,
)
from predictors.methods.base import MethodConfig, MethodSpec
from predictors.methods.registry import METHODS, PRODUCT_METHOD_NAMES, get_method, parse_method, register_method

__all__ = [
    "METHODS",
    "PRODUCT_METHOD_NAMES",
    "MethodConfig",
    "MethodSpec",
    "get_method",
    "parse_method",
    "register_method",
]
