"""Adaptation methods: one module per method, each ending with one ``register_method`` call.

Importing this package imports every module of it (``pkgutil``; a variant imports its parent first), so a
new method is one new file ``predictors/methods/<name>.py``.
"""

from __future__ import annotations

import importlib

from predictors.methods.base import MethodConfig, MethodSpec
from predictors.methods.registry import (
    METHODS,
    PRODUCT_METHOD_NAMES,
    calibration_family,
    default_method_name,
    get_method,
    parse_method,
    prompting_method_name,
    proxy_method_name,
    register_method,
)

for _name in sorted(PRODUCT_METHOD_NAMES):
    importlib.import_module(f"{__name__}.{_name}")
if set(METHODS) != PRODUCT_METHOD_NAMES:
    raise ImportError(f"method modules that registered nothing: {sorted(PRODUCT_METHOD_NAMES - set(METHODS))}")

__all__ = [
    "METHODS",
    "PRODUCT_METHOD_NAMES",
    "MethodConfig",
    "MethodSpec",
    "calibration_family",
    "default_method_name",
    "get_method",
    "parse_method",
    "prompting_method_name",
    "proxy_method_name",
    "register_method",
]
