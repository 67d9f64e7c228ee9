"""The application factory: /v1 routers, health, problem handlers, body-size limit, request ids, offline OpenAPI
docs."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from api import ui
from api.catalog import prepare_database
from api.embedded_worker import EmbeddedWorker
from api.idempotency import install_idempotency
from api.limits import BodySizeLimitMiddleware, ConcurrencyLimit
from api.metrics import install_metrics
from api.problems import install_problem_handlers
from api.request_ids import RequestIdMiddleware
from api.routes import API_PREFIX, health, resource_routers
from api.run_sweep import RunSweep
from api.security import install_access
from storage.settings import Settings, get_settings

__all__ = ["create_app", "create_service_app", "freeze_start_up_objects"]

logger = logging.getLogger("tunecast.api")


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(
    settings: Settings | None = None, *, prepare: bool = True, embedded_worker: EmbeddedWorker | None = None
) -> FastAPI:
    """Build the app. With ``prepare`` the database is migrated and the catalogs seeded at start-up; an
    ``embedded_worker`` starts with the app and stops with it, and so does the sweep that re-queues runs
    stranded by dead workers (``api/run_sweep.py``). ``/docs`` and ``/redoc`` are served from
    assets vendored in the ``fastapi-offline`` wheel (no CDN)."""
    settings = settings or get_settings()
    sweep = RunSweep(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepare:
            prepare_database(settings)
        if embedded_worker is not None:
            embedded_worker.start()
        sweep.start()
        try:
            yield
        finally:
            sweep.stop()
            if embedded_worker is not None:
                embedded_worker.stop()

    app = FastAPIOffline(
        title="tunecast",
        version="0.1.0",
        summary="Cost and accuracy of every way to adapt an LLM to a task, before spending GPU money.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.embedded_worker = embedded_worker
    app.state.event_streams = ConcurrencyLimit(
        "run event streams", settings.max_event_streams, setting="TUNECAST_MAX_EVENT_STREAMS"
    )
    app.state.plans = ConcurrencyLimit(
        "plan computations",
        settings.max_concurrent_plans,
        setting="TUNECAST_MAX_CONCURRENT_PLANS",
        retry_after_s=2,
        wait_s=settings.plan_wait_s,
    )
    install_problem_handlers(app)
    install_idempotency(app, settings.database_url)  # inside the body limit, outside the 500 answer
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    install_access(app, settings)  # keys and write rules before any body is read; CORS outside them
    install_metrics(app, settings)  # times 413s too; GET /metrics
    # Outermost: every answer (the metrics', the 413s', the 500s') echoes the id and every log line below
    # names it; metrics still time all the rest, only these few microseconds fall outside.
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    for router in resource_routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ui.router)
    app.mount("/static", ui.static_files(), name="static")
    return app


def freeze_start_up_objects() -> None:
    """Move what start-up built (modules, catalogs: ~200,000 objects, alive as long as the service) out of
    the cyclic collector's sight, so full collections stop rescanning it; a request building 10,000
    result rows triggers several (``POST /v1/cost`` with 10,000 candidates: 1.18 s -> 0.89 s). For a
    serving process only: tests build hundreds of apps in one process."""
    gc.collect()
    gc.freeze()


def create_service_app() -> FastAPI:
    """The app one of several API processes serves (``tunecast serve --workers N``): settings from the
    environment, the database already migrated by ``serve``, no embedded worker."""
    app = create_app(get_settings(), prepare=False)
    freeze_start_up_objects()
    return app
