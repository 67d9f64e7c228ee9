"""Measurements: what runs observed, and results imported with a citation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from api.deps import SessionDep
from api.schemas.common import Limit, Offset, Page
from api.schemas.measurements import MeasurementCreate, MeasurementPublic
from storage.models import MeasurementRow
from storage.repositories import measurements as measurements_repo

__all__ = ["router", "to_public"]

router = APIRouter(prefix="/measurements", tags=["measurements"])


def to_public(row: MeasurementRow) -> MeasurementPublic:
    return MeasurementPublic.model_validate(
        {
            **{name: getattr(row, name) for name in MeasurementPublic.model_fields if hasattr(row, name)},
            "model": row.model_id,
            "method": row.method_name,
            "run": row.run_id,
        }
    )


@router.post("", response_model=list[MeasurementPublic], status_code=status.HTTP_201_CREATED)
def create_measurements(
    session: SessionDep, body: Annotated[list[MeasurementCreate], Body(min_length=1, max_length=10_000)]
) -> list[MeasurementPublic]:
    values = [
        {**item.model_dump(), "model_id": item.model_id, "method_name": item.method_name, "run_id": None}
        for item in body
    ]
    return [to_public(row) for row in measurements_repo.create_measurements(session=session, values=values)]


@router.get("", response_model=Page[MeasurementPublic])
def list_measurements(
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    task: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[MeasurementPublic]:
    page = measurements_repo.list_measurements(session=session, limit=limit, offset=offset, task=task, model_id=model)
    return Page[MeasurementPublic](
        items=[to_public(r) for r in page.items], total=page.total, limit=limit, offset=offset
    )
