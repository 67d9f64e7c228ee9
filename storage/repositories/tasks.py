"""Tasks: what a user wants to adapt a model to (kind, choices, data sizes, data statistics).

A task is named by its id or by its name wherever a user names it (plans, measurements, filters):
:func:`find_task` resolves either, and :func:`task_values` fills in what the user left out from what the
latest dataset measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import TaskRow
from storage.repositories.catalog import Page

__all__ = ["MAX_N_CHOICES", "create_task", "find_task", "get_task", "list_tasks", "task_names", "task_values"]

MAX_N_CHOICES = 100_000
"""Most classes or answer options a task has (``TaskFields.n_choices``); a count derived from a dataset
or a chance level beyond it is left out rather than shown."""


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


def list_tasks(*, session: Session, limit: int, offset: int, name: str | None = None) -> Page[TaskRow]:
    query, count = select(TaskRow), select(func.count()).select_from(TaskRow)
    if name is not None:
        query, count = query.where(TaskRow.name == name), count.where(TaskRow.name == name)
    rows = session.scalars(query.order_by(TaskRow.created_at.desc(), TaskRow.id).limit(limit).offset(offset))
    return Page(items=list(rows), total=session.scalar(count) or 0, limit=limit, offset=offset)


def find_task(*, session: Session, reference: str) -> TaskRow | None:
    """The stored task whose id is ``reference``, else the one task with that name (None when there is
    none, or when several tasks share the name and only the id can tell them apart)."""
    row = session.get(TaskRow, reference)
    if row is not None:
        return row
    named = session.scalars(select(TaskRow).where(TaskRow.name == reference).limit(2)).all()
    return named[0] if len(named) == 1 else None


def task_names(*, session: Session) -> dict[str, str]:
    """Every stored task's id -> name."""
    return {row.id: row.name for row in session.scalars(select(TaskRow))}


def task_values(row: TaskRow) -> dict[str, Any]:
    """The task's fields as the API shows and the planner reads them: what the user gave, else what the
    latest dataset measured (``n_train``/``n_test`` examples, ``n_labels`` classes, its chance level)."""
    stats = row.stats or {}
    n_choices = row.n_choices
    n_labels = stats.get("n_labels")
    if n_choices is None and row.kind == "classification" and isinstance(n_labels, int):
        n_choices = n_labels if 2 <= n_labels <= MAX_N_CHOICES else None
    if n_choices is None and row.kind != "generation" and row.chance_accuracy:
        guess = round(1.0 / row.chance_accuracy)  # a chance level of 1e-15 would be 10^15 choices
        n_choices = guess if 2 <= guess <= MAX_N_CHOICES else None

    def count(given: int | None, measured: Any) -> int | None:
        if given is not None:
            return int(given)
        return int(measured) if isinstance(measured, int) and measured > 0 else None

    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "n_choices": n_choices,
        "chance_accuracy": row.chance_accuracy,
        "train_examples": count(row.train_examples, stats.get("n_train")),
        "test_examples": count(row.test_examples, stats.get("n_test")),
        "stats": stats,
        "created_at": row.created_at,
    }
