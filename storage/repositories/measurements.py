"""Measurements: observed outcomes, from our runs (``run:<id>``) or imported with a citation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from storage.models import BaseModelRow, MeasurementRow, PredictionRow, RunRow, TaskRow
from storage.repositories.catalog import Page
from storage.repositories.tasks import find_task

__all__ = [
    "CalibrationPair",
    "calibration_pairs",
    "create_measurements",
    "list_measurements",
    "prior_corpus_version",
    "task_filter",
]


def create_measurements(*, session: Session, values: Iterable[Mapping[str, Any]]) -> list[MeasurementRow]:
    """Store measurements. A ``task`` that names a stored task (by id, or by a name no other task shares)
    is stored as that task's name with its ``task_id``, so plans and filters find it by either."""
    resolved: dict[str, TaskRow | None] = {}
    rows = []
    for item in values:
        reference = str(item["task"])
        if reference not in resolved:
            resolved[reference] = find_task(session=session, reference=reference)
        task = resolved[reference]
        names = {"task": task.name, "task_id": task.id} if task is not None else {"task_id": None}
        rows.append(MeasurementRow(**{**item, **names}))
    session.add_all(rows)
    session.commit()
    return rows


def prior_corpus_version(*, session: Session) -> tuple[int | str | None, ...]:
    """Changes whenever a measurement, a task or a catalog model is added, edited or removed (each table's
    count and latest edit, one statement): what the prior learns from, so it is refitted only then."""
    parts = []
    for table in (MeasurementRow, TaskRow, BaseModelRow):
        parts.append(select(func.count()).select_from(table).scalar_subquery())
        parts.append(select(func.max(table.updated_at)).scalar_subquery())
    values = session.execute(select(*parts)).one()
    return tuple(v.isoformat() if isinstance(v, datetime) else v for v in values)


def task_filter(*, session: Session, reference: str) -> ColumnElement[bool]:
    """Measurements of the task ``reference`` names: by a stored task's id (and that name's rows that carry
    no id), or by name."""
    task = session.get(TaskRow, reference)
    if task is None:
        return MeasurementRow.task == reference
    return or_(
        MeasurementRow.task_id == task.id, and_(MeasurementRow.task_id.is_(None), MeasurementRow.task == task.name)
    )


def list_measurements(
    *, session: Session, limit: int, offset: int, task: str | None = None, model_id: str | None = None
) -> Page[MeasurementRow]:
    query = select(MeasurementRow)
    count = select(func.count()).select_from(MeasurementRow)
    if task is not None:
        condition = task_filter(session=session, reference=task)
        query, count = query.where(condition), count.where(condition)
    if model_id is not None:
        query = query.where(MeasurementRow.model_id == model_id)
        count = count.where(MeasurementRow.model_id == model_id)
    rows = session.scalars(query.order_by(MeasurementRow.created_at, MeasurementRow.id).limit(limit).offset(offset))
    return Page(items=list(rows), total=session.scalar(count) or 0, limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class CalibrationPair:
    """A prediction and the measurement of the run that verified it."""

    prediction: PredictionRow
    measurement: MeasurementRow


def calibration_pairs(*, session: Session, task: str | None = None) -> list[CalibrationPair]:
    """Every (prediction, measurement) linked through a run (``runs.prediction_id``, ``measurements.run_id``),
    or those of the task ``task`` names (by id or name, as :func:`task_filter`)."""
    query = (
        select(PredictionRow, MeasurementRow)
        .join(RunRow, RunRow.prediction_id == PredictionRow.id)
        .join(MeasurementRow, MeasurementRow.run_id == RunRow.id)
        .order_by(MeasurementRow.created_at)
    )
    if task is not None:
        query = query.where(task_filter(session=session, reference=task))
    rows = session.execute(query).all()
    return [CalibrationPair(prediction=prediction, measurement=measurement) for prediction, measurement in rows]
