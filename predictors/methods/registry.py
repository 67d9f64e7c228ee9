"""The one registry of adaptation methods (shape of peft's ``register_peft_method``).

Nothing else in tunecast lists method names: request validation, ``GET /v1/methods``, the cost model
and worker dispatch all read :data:`METHODS`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from predictors.errors import InvalidInputError
from predictors.methods.base import MethodConfig, MethodSpec

__all__ = ["METHODS", "PRODUCT_METHOD_NAMES", "get_method", "parse_method", "register_method"]

PRODUCT_METHOD_NAMES: frozenset[str] = frozenset(
    {
        "full",
        "lora",
        "qlora",
        "dora",
        "ia3",
        "prompt_tuning",
        "prefix_tuning",
        "bitfit",
        "ln_tuning",
        "linear_probe",
        "top_k_layers",
        "zero_shot",
        "icl",
        "rag_icl",
        "api_finetune",
    }
)
"""The method names of the product contract (PRODUCT.md, Candidate ``method.name``)."""

METHODS: dict[str, MethodSpec] = {}

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method; fails at import on a bad name, a duplicate or a config/name mismatch."""
    if not _SNAKE_CASE.match(spec.name):
        raise ValueError(f"method name {spec.name!r} must be snake_case")
    if spec.name not in PRODUCT_METHOD_NAMES:
        raise ValueError(f"method name {spec.name!r} is not in the product's method list")
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
