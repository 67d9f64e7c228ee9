"""Tasks: what a prediction or a run is for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.deps import SessionDep
from api.schemas.tasks import TaskCreate, TaskPublic
from storage.repositories import tasks as tasks_repo

__all__ = ["router"]

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskId = Annotated[str, Path(max_length=64, description="Task id.")]


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
def create_task(session: SessionDep, body: TaskCreate) -> TaskPublic:
    row = tasks_repo.create_task(session=session, values=body.model_dump())
    return TaskPublic.model_validate(row, from_attributes=True)


@router.get("/{task_id}", response_model=TaskPublic)
def get_task(session: SessionDep, task_id: TaskId) -> TaskPublic:
    return TaskPublic.model_validate(tasks_repo.get_task(session=session, task_id=task_id), from_attributes=True)
