"""Runs: real probes and fine-tunes on workers; state, progress and results from the database."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Path, Query, status
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.candidates import candidate_label
from api.deps import CallerDep, EmbeddedWorkerDep, EventStreamsDep, SessionDep, SettingsDep
from api.embedded_worker import EmbeddedWorker
from api.request_checks import CheckedRoute
from api.schemas.common import NOT_FOUND_REFERENCE, Limit, Offset, Page, Problem
from api.schemas.runs import RunCreate, RunKind, RunPublic, RunStatus
from api.security import check_run_caps
from api.worker_status import available_models, run_waiting_for
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import PredictionRow, RunRow
from storage.repositories import runs as runs_repo
from storage.repositories import tasks as tasks_repo
from workers.submit import submit_run

__all__ = ["router"]

router = APIRouter(prefix="/runs", tags=["runs"], route_class=CheckedRoute)

RunId = Annotated[str, Path(max_length=64, description="Run id.")]
SSE_POLL_S = 0.5
SSE_RETRY_MS = 1000  # how soon a client's EventSource reconnects
SSE_KEEP_ALIVE_S = 15


def _predicted_accuracy(prediction: PredictionRow | None) -> dict[str, Any] | None:
    if prediction is None or prediction.accuracy_mean is None:
        return None
    return {
        "mean": prediction.accuracy_mean,
        "lower": prediction.accuracy_lower,
        "upper": prediction.accuracy_upper,
        "tier": prediction.tier,
        "predictor": prediction.predictor,
    }


def to_public(row: RunRow, *, session: Session, embedded: EmbeddedWorker | None) -> RunPublic:
    return RunPublic.model_validate(
        {
            **{name: getattr(row, name) for name in RunPublic.model_fields if hasattr(row, name)},
            "task": row.task_id,
            "dataset": row.dataset_id,
            "plan": row.plan_id,
            "prediction": row.prediction_id,
            "label": candidate_label(row.candidate),
            "waiting_for": run_waiting_for(session=session, run=row, embedded=embedded),
            "queue_position": runs_repo.queue_position(session=session, run=row),
            "predicted_accuracy": _predicted_accuracy(runs_repo.verified_prediction(session=session, run=row)),
        }
    )


@router.post(
    "",
    response_model=RunPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **NOT_FOUND_REFERENCE,
        503: {"model": Problem, "description": "The run queue is unreachable: nothing was stored."},
    },
)
def create_run(
    session: SessionDep,
    settings: SettingsDep,
    embedded: EmbeddedWorkerDep,
    body: RunCreate,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Same key, same run.")] = None,
) -> RunPublic:
    """Queue a run; the same ``Idempotency-Key`` (header or field) returns the same run and queues nothing.
    A model no worker can load (or a path outside the model roots) is a 422 naming ``candidate.model``; a
    broker that cannot take the run is a 503 with ``Retry-After`` that leaves nothing stored."""
    check_run_caps(caller, body.options.model_dump())
    run, _created = submit_run(
        session=session,
        settings=settings,
        request=body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        available_models=available_models(session=session, settings=settings, embedded=embedded),
    )
    return to_public(run, session=session, embedded=embedded)


@router.get("", response_model=Page[RunPublic], responses=NOT_FOUND_REFERENCE)
def list_runs(
    session: SessionDep,
    embedded: EmbeddedWorkerDep,
    limit: Limit = 100,
    offset: Offset = 0,
    task: Annotated[str | None, Query(max_length=200, description="Task id or unique name.")] = None,
    plan: Annotated[str | None, Query(max_length=64)] = None,
    run_status: Annotated[RunStatus | None, Query(alias="status")] = None,
    kind: Annotated[RunKind | None, Query()] = None,
    method: Annotated[str | None, Query(max_length=64, description="Method name, e.g. lora.")] = None,
    model: Annotated[str | None, Query(max_length=128, description="Model id, e.g. llama-3.2-1b.")] = None,
) -> Page[RunPublic]:
    """Runs, newest first; filters combine."""
    task_id = None
    if task is not None:
        found = tasks_repo.find_task(session=session, reference=task)
        if found is None:
            raise NotFoundError("task", task, field="task", location="query")
        task_id = found.id
    page = runs_repo.list_runs(
        session=session,
        limit=limit,
        offset=offset,
        task_id=task_id,
        plan_id=plan,
        status=run_status,
        kind=kind,
        method=method,
        model=model,
    )
    items = [to_public(row, session=session, embedded=embedded) for row in page.items]
    return Page[RunPublic](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{run_id}", response_model=RunPublic)
def get_run(session: SessionDep, embedded: EmbeddedWorkerDep, run_id: RunId) -> RunPublic:
    """The run's state, progress and result; a queued run says what it waits for (``waiting_for``)."""
    return to_public(runs_repo.get_run(session=session, run_id=run_id), session=session, embedded=embedded)


@router.post("/{run_id}/cancel", response_model=RunPublic, status_code=status.HTTP_202_ACCEPTED)
def cancel_run(session: SessionDep, embedded: EmbeddedWorkerDep, run_id: RunId) -> RunPublic:
    """Cancel: a queued run at once, and a stranded one (its worker died: its lease lapsed); a running one
    at its next step (its status then becomes cancelled)."""
    return to_public(runs_repo.request_cancel(session=session, run_id=run_id), session=session, embedded=embedded)


def _run_exists(database_url: str, run_id: str) -> None:
    with session_scope(database_url) as session:
        runs_repo.get_run(session=session, run_id=run_id)


def _new_events(database_url: str, run_id: str, after_id: int) -> tuple[list[dict[str, str]], bool]:
    """The run's events after ``after_id`` and whether it has finished, in one short transaction: no
    stream holds a pooled connection while it waits."""
    with session_scope(database_url) as session:
        events = runs_repo.list_events(session=session, run_id=run_id, after_id=after_id)
        finished = runs_repo.get_run(session=session, run_id=run_id).status in runs_repo.TERMINAL
        return [{"id": str(e.id), "event": e.kind, "data": json.dumps(e.data)} for e in events], finished


async def _event_stream(
    database_url: str,
    run_id: str,
    after_id: int,
    timeout_s: float,
    *,
    release: Callable[[], None],
    shutdown: anyio.Event,
) -> AsyncIterator[dict[str, Any]]:
    """Polls in the thread pool and waits on the event loop: an open stream holds neither a connection
    nor a thread between polls. When the server stops, the stream ends cleanly (its client reconnects
    after ``retry``, with ``Last-Event-ID``)."""
    try:
        deadline = time.monotonic() + timeout_s
        yield {"retry": SSE_RETRY_MS}
        while True:
            events, finished = await run_in_threadpool(_new_events, database_url, run_id, after_id)
            for event in events:
                yield event
            after_id = int(events[-1]["id"]) if events else after_id
            if finished and not events:
                yield {"event": "end", "data": "{}"}
                return
            if not events:
                with anyio.move_on_after(SSE_POLL_S):
                    await shutdown.wait()
            if shutdown.is_set() or time.monotonic() > deadline:
                return
    finally:
        release()


@router.get(
    "/{run_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "The run's events (``id``, ``event``, JSON ``data``) as they happen.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        503: {"model": Problem, "description": "This API process serves its maximum of event streams."},
    },
)
async def run_events(
    settings: SettingsDep,
    streams: EventStreamsDep,
    run_id: RunId,
    last_event_id: Annotated[int, Header(ge=0, description="Resume after this event id.")] = 0,
    timeout_s: Annotated[float, Query(gt=0, le=86400, description="Close the stream after this long.")] = 3600,
) -> EventSourceResponse:
    """Server-sent events: ``status`` and ``progress`` events in order, then ``end`` once the run is finished;
    a comment every 15 s keeps proxies from closing a quiet stream."""
    await run_in_threadpool(_run_exists, settings.database_url, run_id)  # 404 before the stream starts
    release = streams.acquire()  # 503 + Retry-After past TUNECAST_MAX_EVENT_STREAMS
    shutdown = anyio.Event()
    return EventSourceResponse(
        _event_stream(settings.database_url, run_id, last_event_id, timeout_s, release=release, shutdown=shutdown),
        ping=SSE_KEEP_ALIVE_S,
        sep="\n",
        shutdown_event=shutdown,
        shutdown_grace_period=SSE_POLL_S * 4,
        background=BackgroundTask(release),  # also when the stream ends before its first event
    )
