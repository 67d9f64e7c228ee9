"""Adaptation methods and their parameter schemas, straight from the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.request_checks import CheckedRoute
from api.schemas.common import Page
from api.schemas.methods import MethodPublic
from predictors.methods import METHODS, MethodSpec, get_method
from storage.errors import NotFoundError

router = APIRouter(prefix="/methods", tags=["methods"], route_class=CheckedRoute)


def to_public(spec: MethodSpec) -> MethodPublic:
    return MethodPublic(
        name=spec.name,
        kind=spec.kind,
        summary=spec.summary,
        reference=spec.reference,
        parent=spec.parent,
        parameter_schema=spec.json_schema(),
        defaults=spec.default_config().model_dump(mode="json"),
    )


@router.get("", response_model=Page[MethodPublic])
def list_methods() -> Page[MethodPublic]:
    items = [to_public(spec) for spec in METHODS.values()]
    return Page[MethodPublic](items=items, total=len(items), limit=len(items), offset=0)


@router.get("/{name}", response_model=MethodPublic)
def get_method_by_name(name: Annotated[str, Path(max_length=64)]) -> MethodPublic:
    if name not in METHODS:
        raise NotFoundError("method", name, field="name")
    return to_public(get_method(name))
