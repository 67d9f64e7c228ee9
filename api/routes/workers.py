"""Workers: the live workers, their queues, versions, model roots and the models they can load."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import EmbeddedWorkerDep, SessionDep
from api.request_checks import CheckedRoute
from api.schemas.common import Limit, Offset
from api.schemas.workers import WorkersPage
from api.worker_status import embedded_status, worker_public
from storage.repositories import workers as workers_repo

__all__ = ["router"]

router = APIRouter(prefix="/workers", tags=["workers"], route_class=CheckedRoute)


@router.get("", response_model=WorkersPage)
def list_workers(
    session: SessionDep,
    embedded: EmbeddedWorkerDep,
    limit: Limit = 100,
    offset: Offset = 0,
    live: Annotated[bool | None, Query(description="Only live (true) or only gone (false) workers.")] = None,
) -> WorkersPage:
    """Every worker that has reported, most recently heard from first (``live`` says who is up now), and
    the state of the worker ``tunecast serve`` supervises, if any."""
    rows = [worker_public(row) for row in workers_repo.list_workers(session=session)]
    if live is not None:
        rows = [row for row in rows if row.live == live]
    return WorkersPage(
        items=rows[offset : offset + limit],
        total=len(rows),
        limit=limit,
        offset=offset,
        embedded=embedded_status(embedded),
    )
