"""Costs of candidates: FLOPs, memory, time and dollars."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.costing import SMALL_TABLE_ROWS, cost_catalog_is_held, estimate_candidate_costs
from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.responses import model_response
from api.schemas.cost import CostRequest, CostResponse

router = APIRouter(prefix="/cost", tags=["cost"], route_class=CheckedRoute)


@router.post("", response_model=CostResponse)
async def estimate_cost(session: SessionDep, body: CostRequest) -> Response:
    """A few candidates against a catalog this process holds need no I/O and a fraction of a millisecond:
    answered on the event loop, where the thread-pool hop would cost as much as the answer (issue #15);
    anything else runs in the pool."""
    if len(body.candidates) < SMALL_TABLE_ROWS and cost_catalog_is_held(session=session):
        return _answer(session, body)
    return await run_in_threadpool(_answer, session, body)


def _answer(session: Session, body: CostRequest) -> Response:
    return model_response(CostResponse(results=estimate_candidate_costs(session=session, candidates=body.candidates)))
