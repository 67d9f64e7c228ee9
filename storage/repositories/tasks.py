"""Tasks: what a user wants to adapt a model to (kind, chance level, data statistics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import TaskRow

__all__ = ["create_task", "get_task", "update_task_stats"]


def create_task(*, session: Session, values: Mapping[str, Any]) -> TaskRow:
    row = TaskRow(**values)
    session.add(row)
    session.commit()
    return row


def get_task(*, session: Session, task_id: str, field: str = "task_id", location: str = "path") -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFoundError("task", task_id, field=field, location=location)
    return row


def update_task_stats(
    *, session: Session, task_id: str, stats: Mapping[str, Any], chance_accuracy: float | None = None
) -> TaskRow:
    """Merge data statistics into a task; ``chance_accuracy`` is set only when the task has none."""
    row = get_task(session=session, task_id=task_id)
    row.stats = {**row.stats, **stats}
    if row.chance_accuracy is None and chance_accuracy is not None:
        row.chance_accuracy = chance_accuracy
    session.commit()
    return row
