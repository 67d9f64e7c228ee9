"""The base of every model parsed at the API's edge: a number field refuses a boolean.

pydantic's lax mode reads ``true`` as ``1`` wherever an ``int`` or ``float`` is expected (Python's
``bool`` is an ``int``), so ``"steps": true`` was a one-step run. Strict mode would also refuse the
numeric strings CSV rows and form fields carry, so instead :class:`EdgeModel` wraps each int, float and
numeric-literal node of its core schema (lists' items, dicts' values and optional fields included) in a
check that refuses ``bool`` alone, with the error ``bool_not_number`` at the field's location. A union
that admits ``bool`` keeps it (its ``bool`` branch matches); the JSON schema is unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = ["BOOL_NOT_NUMBER", "EdgeModel"]

BOOL_NOT_NUMBER = "bool_not_number"
"""The pydantic error type of a boolean sent for a number."""

_NUMBER_TYPES = frozenset({"int", "float", "decimal"})
_LEFT_AS_IS = frozenset({"serialization", "metadata", "ref", "cls", "function"})


def _refuse_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(BOOL_NOT_NUMBER, "expected a number, got a boolean")
    return value


def _numeric_literal(schema: dict[str, Any]) -> bool:
    expected = schema.get("expected", [])
    return any(isinstance(v, int | float) and not isinstance(v, bool) for v in expected) and not any(
        isinstance(v, bool) for v in expected
    )


def _guard(schema: Any) -> Any:
    """``schema`` with every number node wrapped in :func:`_refuse_bool` (once)."""
    if isinstance(schema, list):
        return [_guard(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if not isinstance(kind, str):  # a mapping of names (a model's fields, a tagged union's choices)
        return {key: _guard(value) for key, value in schema.items()}
    if kind == "function-before" and schema["function"].get("function") is _refuse_bool:
        return schema
    if kind in _NUMBER_TYPES or (kind == "literal" and _numeric_literal(schema)):
        return core_schema.no_info_before_validator_function(_refuse_bool, schema)
    return {key: value if key in _LEFT_AS_IS else _guard(value) for key, value in schema.items()}


class EdgeModel(BaseModel):
    """A pydantic model whose numbers refuse booleans (see the module docstring); subclass it instead of
    ``BaseModel`` for anything a request, a CSV row or a method's parameters are parsed into."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /) -> CoreSchema:
        return _guard(handler(source))  # type: ignore[no-any-return]
