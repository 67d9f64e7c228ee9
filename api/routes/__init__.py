"""One router per product resource; ``api_router`` only aggregates them."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    calibration,
    cost,
    datasets,
    gate,
    hardware,
    measurements,
    methods,
    models,
    plans,
    runs,
    scaling,
    tasks,
    workers,
)

__all__ = ["api_router"]

api_router = APIRouter(prefix="/v1")
api_router.include_router(models.router)
api_router.include_router(methods.router)
api_router.include_router(hardware.router)
api_router.include_router(tasks.router)
api_router.include_router(datasets.router)
api_router.include_router(runs.router)
api_router.include_router(workers.router)
api_router.include_router(measurements.router)
api_router.include_router(calibration.router)
api_router.include_router(cost.router)
api_router.include_router(plans.router)
api_router.include_router(gate.router)
api_router.include_router(scaling.router)
