"""Calibration: how well tunecast's predictions matched what its runs measured and what was imported."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.calibration import calibration_report
from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.schemas.calibration import Calibration

__all__ = ["router"]

router = APIRouter(prefix="/calibration", tags=["calibration"], route_class=CheckedRoute)


@router.get("", response_model=Calibration)
def get_calibration(
    session: SessionDep,
    task: Annotated[str | None, Query(max_length=200, description="Only this task (its id or its name).")] = None,
) -> Calibration:
    """Predicted-vs-measured error and 90 % interval coverage, by source (runs, imports), predictor tier and
    method; per tier, coverage before and after conformal calibration on both."""
    return Calibration.model_validate(calibration_report(session=session, task=task))
