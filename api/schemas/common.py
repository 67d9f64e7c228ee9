"""Shapes shared by every router: pages and problem details."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Limit", "Offset", "Page", "Problem", "ProblemError"]

ItemT = TypeVar("ItemT")

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1 to 1000).")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]


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
