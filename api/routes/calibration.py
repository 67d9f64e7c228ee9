"""Calibration: how well tunecast's predictions matched what its runs measured."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.schemas.calibration import Calibration
from workers.calibration import calibration_report

__all__ = ["router"]

router = APIRouter(prefix="/calibration", tags=["calibration"])


@router.get("", response_model=Calibration)
def get_calibration(session: SessionDep) -> Calibration:
    """Predicted-vs-measured error and 90 % interval coverage, by predictor tier and method."""
    return Calibration.model_validate(calibration_report(session=session))
