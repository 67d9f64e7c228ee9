"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EmbeddedWorkerDep, SessionDep, SettingsDep
from api.request_checks import CheckedRoute
from api.schemas.health import Health, Readiness
from api.schemas.workers import WorkersSummary
from api.worker_status import embedded_status, workers_summary
from storage.health import database_status
from workers.health import broker_status

router = APIRouter(tags=["health"], route_class=CheckedRoute)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(settings: SettingsDep, session: SessionDep, embedded: EmbeddedWorkerDep) -> JSONResponse:
    """The database and broker this service needs (503 when either is down), and its workers: how many
    are live on each queue, and the embedded worker's state. No live worker does not make the API unready
    (plans need none), but every queued run says it is waiting for one."""
    database = database_status(settings.database_url)
    workers = (
        workers_summary(session=session, embedded=embedded)
        if database == "ok"
        else WorkersSummary(live=0, queues={}, embedded=embedded_status(embedded))
    )
    readiness = Readiness(database=database, broker=broker_status(settings), workers=workers)
    ready = readiness.database == "ok" and readiness.broker != "unavailable"
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if ready else 503)
