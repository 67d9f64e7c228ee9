"""Plans: candidates costed and forecast, the frontier, and a recommendation under a budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api import planning
from api.deps import SessionDep, SettingsDep
from api.schemas.common import Limit, Offset, Page
from api.schemas.plans import Plan, PlanRequest, PlanSummary
from storage.repositories import plans as plans_repo

router = APIRouter(prefix="/plans", tags=["plans"])

PlanId = Annotated[str, Path(max_length=64)]


@router.post("", response_model=Plan, status_code=status.HTTP_201_CREATED)
def create_plan(session: SessionDep, settings: SettingsDep, body: PlanRequest) -> Plan:
    plan = planning.create_plan(session=session, database_url=settings.database_url, request=body)
    return Plan.model_validate(planning.plan_public(plan))


@router.get("", response_model=Page[PlanSummary])
def list_plans(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> Page[PlanSummary]:
    page = plans_repo.list_plans(session=session, limit=limit, offset=offset)
    items = [
        PlanSummary(
            id=row.id,
            status=row.status,
            task=str(row.result.get("task", {}).get("name", "")),
            n_candidates=int(row.result.get("n_candidates", 0)),
            recommendation=row.result.get("recommendation"),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in page.items
    ]
    return Page[PlanSummary](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{plan_id}", response_model=Plan)
def read_plan(session: SessionDep, settings: SettingsDep, plan_id: PlanId) -> Plan:
    plan = planning.read_plan(session=session, database_url=settings.database_url, plan_id=plan_id)
    return Plan.model_validate(planning.plan_public(plan))
