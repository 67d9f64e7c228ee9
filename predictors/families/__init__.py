"""Model families: one module per family, each ending with one ``register_family`` call.

Importing this package imports every module of it (``pkgutil``), so a new family is one new file
``predictors/families/<name>.py``.
"""

from __future__ import annotations

import importlib

from predictors.families.base import Family, Layout, LinearModule, NormKind, Shape
from predictors.families.registry import (
    DEFAULT_FAMILY,
    FAMILIES,
    FAMILY_MODULE_NAMES,
    find_family,
    register_family,
)

for _name in sorted(FAMILY_MODULE_NAMES):
    importlib.import_module(f"{__name__}.{_name}")
if set(FAMILIES) != FAMILY_MODULE_NAMES:
    raise ImportError(f"family modules that registered nothing: {sorted(FAMILY_MODULE_NAMES - set(FAMILIES))}")

__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "FAMILY_MODULE_NAMES",
    "Family",
    "Layout",
    "LinearModule",
    "NormKind",
    "Shape",
    "find_family",
    "register_family",
]
