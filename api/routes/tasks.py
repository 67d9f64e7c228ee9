"""Tasks: what a prediction or a run is for. A task is read by its id or by its (unique) name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.deps import SessionDep
from api.request_checks import CheckedRoute
from api.schemas.common import Limit, Offset, Page
from api.schemas.tasks import TaskCreate, TaskPublic
from storage.errors import NotFoundError
from storage.repositories import tasks as tasks_repo

__all__ = ["router"]

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=CheckedRoute)

TaskRef = Annotated[str, Path(max_length=200, description="Task id, or its name when no other task shares it.")]


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
def create_task(session: SessionDep, body: TaskCreate) -> TaskPublic:
    row = tasks_repo.create_task(session=session, values=body.model_dump())
    return TaskPublic.model_validate(tasks_repo.task_values(row))


@router.get("", response_model=Page[TaskPublic])
def list_tasks(
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    name: Annotated[str | None, Query(max_length=200, description="Only tasks with this name.")] = None,
) -> Page[TaskPublic]:
    page = tasks_repo.list_tasks(session=session, limit=limit, offset=offset, name=name)
    items = [TaskPublic.model_validate(tasks_repo.task_values(row)) for row in page.items]
    return Page[TaskPublic](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{task_id}", response_model=TaskPublic)
def get_task(session: SessionDep, task_id: TaskRef) -> TaskPublic:
    row = tasks_repo.find_task(session=session, reference=task_id)
    if row is None:
        raise NotFoundError("task", task_id, field="task_id")
    return TaskPublic.model_validate(tasks_repo.task_values(row))
