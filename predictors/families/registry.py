"""The one registry of model families (the shape of :mod:`predictors.methods.registry`).

Nothing else in tunecast compares ``model_type`` strings: the architecture reader looks the family up
here and copies the family's facts onto the :class:`~predictors.architecture.Architecture`.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

from predictors.families.base import Family

__all__ = ["DEFAULT_FAMILY", "FAMILIES", "FAMILY_MODULE_NAMES", "find_family", "register_family"]

_NOT_FAMILIES = frozenset({"base", "registry"})

FAMILY_MODULE_NAMES: frozenset[str] = frozenset(
    module.name
    for module in pkgutil.iter_modules([str(Path(__file__).parent)])
    if module.name not in _NOT_FAMILIES and not module.name.startswith("_")
)
"""One module of this package per family, named as the family (``predictors/families/<name>.py``)."""

DEFAULT_FAMILY = "llama"
"""The family an unknown ``model_type`` is read as (a Llama-style block, with the assumption recorded)."""

FAMILIES: dict[str, Family] = {}
_BY_MODEL_TYPE: dict[str, Family] = {}
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def register_family(family: Family) -> Family:
    """Add a family; fails at import on a bad name, a name without its module, or a model type claimed twice."""
    if not _SNAKE_CASE.match(family.name):
        raise ValueError(f"family name {family.name!r} must be snake_case")
    if family.name not in FAMILY_MODULE_NAMES:
        raise ValueError(f"family {family.name!r} has no module predictors/families/{family.name}.py")
    if family.name in FAMILIES:
        raise KeyError(f"family {family.name!r} is already registered")
    if family.name not in family.model_types:
        raise ValueError(f"family {family.name!r} must list its own name among its model_types")
    for model_type in family.model_types:
        if model_type != model_type.strip().lower():
            raise ValueError(f"model type {model_type!r} of family {family.name!r} must be lower case, unpadded")
        if model_type in _BY_MODEL_TYPE:
            raise KeyError(f"model type {model_type!r} is claimed by {_BY_MODEL_TYPE[model_type].name!r} already")
    FAMILIES[family.name] = family
    _BY_MODEL_TYPE.update(dict.fromkeys(family.model_types, family))
    return family


def find_family(model_type: str) -> Family | None:
    """The family registered for a normalised ``model_type`` (lower case), or None when none claims it."""
    return _BY_MODEL_TYPE.get(model_type)
