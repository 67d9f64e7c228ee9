"""Shapes shared by every router: pages and problem details."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NOT_FOUND_REFERENCE", "Limit", "Offset", "Page", "Problem", "ProblemError", "omit_not_null"]

ItemT = TypeVar("ItemT")

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1 to 1000).")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]


def omit_not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an optional field that may be omitted but not sent as ``null`` (a form
    field cannot be null; some updates refuse it): its schema keeps only the non-null branch."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


class Page(BaseModel, Generic[ItemT]):
    """A page of a list endpoint: ``items``, the ``total`` matching, and the ``limit``/``offset`` used."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


class ProblemError(BaseModel):
    pointer: str | None = Field(None, description="JSON Pointer (RFC 6901) into the request body.")
    parameter: str | None = Field(None, description="Query, path or header parameter name.")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = None


NOT_FOUND_REFERENCE: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "Something the body or a query parameter names (a task, plan, run...) does not exist; "
        "``errors`` points at the reference.",
    }
}
"""``responses=`` of an operation whose input refers to stored things (an unknown path id is declared for
every operation, in :func:`api.problems.document_problems`)."""
