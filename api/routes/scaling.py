"""Fit and evaluate scaling laws by name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.request_checks import CheckedRoute
from api.schemas.scaling import FitRequest, FitResponse, PredictRequest, PredictResponse
from scaling import fit_law, predict_law

router = APIRouter(prefix="/scaling", tags=["scaling"], route_class=CheckedRoute)


@router.post("/fit", response_model=FitResponse)
def fit(body: FitRequest) -> dict[str, Any]:
    weights = [p.weight if p.weight is not None else 1.0 for p in body.points]
    result = fit_law(
        body.law,
        [p.x for p in body.points],
        [p.y for p in body.points],
        sample_weight=weights if any(p.weight is not None for p in body.points) else None,
        **body.options,
    )
    return result.to_dict()


@router.post("/predict", response_model=PredictResponse)
def predict(body: PredictRequest) -> dict[str, Any]:
    result = predict_law(
        body.law,
        body.params,
        body.x,
        level=body.level,
        intervals=body.intervals,
        covariance=body.covariance,
        options=body.options,
    )
    return result.to_dict()
