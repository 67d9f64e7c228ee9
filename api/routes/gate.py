"""The CI gate over HTTP: the same logic as ``tunecast gate plan.yaml``."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PlanSlot, SessionDep
from api.gating import evaluate_gate
from api.request_checks import CheckedRoute
from api.schemas.common import NOT_FOUND_REFERENCE
from api.schemas.gate import GateReport, PlanFile

router = APIRouter(prefix="/gate", tags=["gate"], route_class=CheckedRoute)


@router.post("", response_model=GateReport, responses=NOT_FOUND_REFERENCE, dependencies=[PlanSlot])
def gate(session: SessionDep, body: PlanFile) -> GateReport:
    return evaluate_gate(session=session, plan_file=body)
