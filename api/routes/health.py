"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import SettingsDep
from api.schemas.health import Health, Readiness
from storage.health import database_status
from workers.health import broker_status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(settings: SettingsDep) -> JSONResponse:
    readiness = Readiness(database=database_status(settings.database_url), broker=broker_status(settings))
    ready = readiness.database == "ok" and readiness.broker != "unavailable"
    return JSONResponse(readiness.model_dump(), status_code=200 if ready else 503)
