"""One router per product resource, each included into the app under ``API_PREFIX``."""

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

__all__ = ["API_PREFIX", "resource_routers"]

API_PREFIX = "/v1"
# Included straight into the app (not through an aggregating router): FastAPI matches nested routers
# level by level on every request, and one level less is a measurable part of a small request.
resource_routers: tuple[APIRouter, ...] = (
    models.router,
    methods.router,
    hardware.router,
    tasks.router,
    datasets.router,
    runs.router,
    workers.router,
    measurements.router,
    calibration.router,
    cost.router,
    plans.router,
    gate.router,
    scaling.router,
)
