"""Base models: the shipped catalog and imported configs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api import catalog
from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.schemas.common import Limit, Offset, Page
from api.schemas.models import MODEL_ID_PATTERN, ModelImport, ModelPublic
from predictors.architecture import architecture_from_hf_config
from storage.models import BaseModelRow
from storage.repositories import catalog as catalog_repo

router = APIRouter(prefix="/models", tags=["models"], route_class=CheckedRoute)

ModelId = Annotated[str, Path(max_length=128, description="Model id, e.g. 'llama-3.1-8b'.")]


def to_public(row: BaseModelRow) -> ModelPublic:
    derived = catalog.derived_architecture(architecture_from_hf_config(row.architecture))
    return ModelPublic.model_validate(
        {
            **{column: getattr(row, column) for column in ModelPublic.model_fields if hasattr(row, column)},
            "architecture": {**row.architecture, **{k: v for k, v in derived.items() if v is not None}},
        }
    )


@router.get("", response_model=Page[ModelPublic])
def list_models(
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    family: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[ModelPublic]:
    page = catalog_repo.list_models(session=session, limit=limit, offset=offset, family=family)
    return Page[ModelPublic](items=[to_public(r) for r in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(session: SessionDep, model_id: ModelId) -> ModelPublic:
    return to_public(catalog_repo.get_model(session=session, model_id=model_id))


@router.post("/import", response_model=ModelPublic, status_code=status.HTTP_201_CREATED)
def import_model(session: SessionDep, body: ModelImport) -> ModelPublic:
    metadata = body.model_dump(exclude={"id", "config"}, exclude_none=True)
    row = catalog.import_model(session=session, model_id=body.id, config=body.config, metadata=metadata)
    return to_public(row)


__all__ = ["MODEL_ID_PATTERN", "router"]
