"""Dependencies as typed aliases, so route signatures read as prose.

They are ``async`` although none awaits: FastAPI runs a plain ``def`` dependency in the thread pool, and
each hop there cost about 0.5 ms on the 2-core VM, four hops a third of a small request (issue #15).
None but :func:`plan_slot` waits on anything (it queues on the event loop for a plan slot): settings and
the worker are attributes, creating a session does no I/O, and closing one returns its connection to
the pool (a rollback at most)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.embedded_worker import EmbeddedWorker
from api.limits import ConcurrencyLimit
from api.security import Caller
from storage.db import get_sessionmaker
from storage.settings import Settings

__all__ = [
    "EmbeddedWorkerDep",
    "EventStreamsDep",
    "PlanLimitDep",
    "PlanSlot",
    "SessionDep",
    "SettingsDep",
    "get_session",
    "settings_from_app",
]


async def settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_from_app)]


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    session = get_sessionmaker(settings.database_url)()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def embedded_worker_from_app(request: Request) -> EmbeddedWorker | None:
    worker: EmbeddedWorker | None = getattr(request.app.state, "embedded_worker", None)
    return worker


EmbeddedWorkerDep = Annotated[EmbeddedWorker | None, Depends(embedded_worker_from_app)]


async def event_streams_from_app(request: Request) -> ConcurrencyLimit:
    streams: ConcurrencyLimit = request.app.state.event_streams
    return streams


EventStreamsDep = Annotated[ConcurrencyLimit, Depends(event_streams_from_app)]


async def plan_limit_from_app(request: Request) -> ConcurrencyLimit:
    plans: ConcurrencyLimit = request.app.state.plans
    return plans


PlanLimitDep = Annotated[ConcurrencyLimit, Depends(plan_limit_from_app)]


async def plan_slot(plans: PlanLimitDep) -> AsyncIterator[None]:
    """One of the process's plan computations (TUNECAST_MAX_CONCURRENT_PLANS) for the whole request, queued
    for on the event loop before the route's thread or connection is taken; 503 past the wait."""
    release = await plans.wait()
    try:
        yield
    finally:
        release()


PlanSlot = Depends(plan_slot)
"""For a route that always computes a plan: ``dependencies=[PlanSlot]``."""


async def caller_from_request(request: Request) -> Caller | None:
    """The API key the request came with (None when keys are off), as ``AccessMiddleware`` verified it."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    return caller


CallerDep = Annotated[Caller | None, Depends(caller_from_request)]
