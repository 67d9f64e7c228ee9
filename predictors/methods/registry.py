"""The one registry of adaptation methods (shape of peft's ``register_peft_method``).

Nothing else in tunecast lists method names: request validation, ``GET /v1/methods``, the cost model,
the accuracy tiers and the workers read :data:`METHODS` and the capability look-ups below.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from predictors.errors import InvalidInputError
from predictors.methods.base import MethodConfig, MethodSpec

__all__ = [
    "METHODS",
    "PRODUCT_METHOD_NAMES",
    "calibration_family",
    "default_method_name",
    "get_method",
    "parse_method",
    "prompting_method_name",
    "proxy_method_name",
    "register_method",
]

_NOT_METHODS = frozenset({"base", "registry"})

PRODUCT_METHOD_NAMES: frozenset[str] = frozenset(
    module.name
    for module in pkgutil.iter_modules([str(Path(__file__).parent)])
    if module.name not in _NOT_METHODS and not module.name.startswith("_")
)
"""The method names of the product contract (PRODUCT.md, Candidate ``method.name``): one module of this
package per method, named as the method (``predictors/methods/<name>.py``), found by ``pkgutil``."""

METHODS: dict[str, MethodSpec] = {}
_FAMILIES: dict[str, str] = {}  # calibration_family's memo

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method; fails at import on a bad name, a duplicate or a config/name mismatch."""
    if not _SNAKE_CASE.match(spec.name):
        raise ValueError(f"method name {spec.name!r} must be snake_case")
    if spec.name not in PRODUCT_METHOD_NAMES:
        raise ValueError(
            f"method name {spec.name!r} is not in the product's method list (no predictors/methods/{spec.name}.py)"
        )
    if spec.name in METHODS:
        raise KeyError(f"method {spec.name!r} is already registered")
    name_field = spec.config_cls.model_fields.get("name")
    if (
        name_field is None
        or name_field.annotation is None
        or getattr(name_field.annotation, "__args__", ()) != (spec.name,)
    ):
        raise ValueError(f"{spec.config_cls.__name__}.name must be Literal[{spec.name!r}]")
    if spec.parent is not None and spec.parent not in METHODS:
        raise ValueError(f"method {spec.name!r} names parent {spec.parent!r}, which is not registered first")
    METHODS[spec.name] = spec
    _FAMILIES.clear()
    return spec


def get_method(name: str) -> MethodSpec:
    """The registered method called ``name``; an :class:`InvalidInputError` on ``method.name`` otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(METHODS))
        raise InvalidInputError("method.name", f"unknown method {name!r}; known methods: {known}") from None


def parse_method(data: Any, *, field: str = "method") -> MethodConfig:
    """Validate a method object (``{"name": "lora", "rank": 16, …}``) against its registered schema.

    Errors name the field with a dotted path (``method.rank``) and the rule that failed.
    """
    if isinstance(data, MethodConfig):
        return data
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise InvalidInputError(field, "must be an object with a 'name' (or a method name string)")
    if "name" not in data:
        raise InvalidInputError(f"{field}.name", "is required")
    try:
        spec = get_method(data["name"])
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}.name", exc.message) from None
    try:
        return spec.parse(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InvalidInputError(f"{field}.{location}" if location else field, first["msg"]) from None


def _only(flag: str) -> str:
    names = [name for name, spec in METHODS.items() if getattr(spec, flag)]
    if len(names) != 1:
        raise LookupError(f"exactly one registered method must set {flag}; found {names}")
    return names[0]


def default_method_name() -> str:
    """The method of a run whose candidate names none (the spec with ``default_for_runs``)."""
    return _only("default_for_runs")


def proxy_method_name() -> str:
    """The COSMOS proxy method (the spec with ``proxy``)."""
    return _only("proxy")


def prompting_method_name(shots: int, selection: str) -> str:
    """The prompting method a probe with ``shots`` demonstrations chosen by ``selection`` measures."""
    for name, spec in METHODS.items():
        if spec.demonstrations is not None and (
            spec.demonstrations == () if shots == 0 else selection in spec.demonstrations
        ):
            return name
    raise InvalidInputError("options.retriever", f"no prompting method measures {shots} shots chosen by {selection!r}")


def calibration_family(name: str) -> str:
    """The calibration family timing method ``name``: its own declared one, else its parent's, else that of
    the method marked ``times_unmeasured`` (frozen-base methods without measured runs of their own).
    Memoised (the cost model asks per candidate); a registration clears the memo."""
    hit = _FAMILIES.get(name)
    if hit is None:
        hit = _FAMILIES[name] = _calibration_family(name)
    return hit


def _calibration_family(name: str) -> str:
    spec = METHODS.get(name)
    while spec is not None and spec.calibration_family is None and spec.parent is not None:
        spec = METHODS[spec.parent]
    if spec is not None and spec.calibration_family is not None:
        return spec.calibration_family
    return str(METHODS[_only("times_unmeasured")].calibration_family)
