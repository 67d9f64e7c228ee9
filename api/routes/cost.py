"""Costs of candidates: FLOPs, memory, time and dollars."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.costing import estimate_candidate_costs
from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.responses import model_response
from api.schemas.cost import CostRequest, CostResponse

router = APIRouter(prefix="/cost", tags=["cost"], route_class=CheckedRoute)


@router.post("", response_model=CostResponse)
def estimate_cost(session: SessionDep, body: CostRequest) -> Response:
    return model_response(CostResponse(results=estimate_candidate_costs(session=session, candidates=body.candidates)))
