"""Accelerator kinds; prices and specs are editable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.schemas.common import Limit, Offset, Page
from api.schemas.hardware import HardwarePublic, HardwareUpdate
from storage.repositories import catalog as catalog_repo

router = APIRouter(prefix="/hardware", tags=["hardware"], route_class=CheckedRoute)

HardwareId = Annotated[str, Path(max_length=64, description="Hardware id, e.g. 'H100-SXM'.")]


@router.get("", response_model=Page[HardwarePublic])
def list_hardware(session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> Page[HardwarePublic]:
    page = catalog_repo.list_hardware(session=session, limit=limit, offset=offset)
    items = [HardwarePublic.model_validate(row, from_attributes=True) for row in page.items]
    return Page[HardwarePublic](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{hardware_id}", response_model=HardwarePublic)
def get_hardware(session: SessionDep, hardware_id: HardwareId) -> HardwarePublic:
    row = catalog_repo.get_hardware(session=session, hardware_id=hardware_id)
    return HardwarePublic.model_validate(row, from_attributes=True)


@router.put("/{hardware_id}", response_model=HardwarePublic)
def update_hardware(session: SessionDep, hardware_id: HardwareId, body: HardwareUpdate) -> HardwarePublic:
    changes = body.model_dump(exclude_unset=True)
    row = catalog_repo.update_hardware(session=session, hardware_id=hardware_id, changes=changes)
    return HardwarePublic.model_validate(row, from_attributes=True)
