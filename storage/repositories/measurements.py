"""Measurements: observed outcomes, from our runs (``run:<id>``) or imported with a citation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import BaseModelRow, MeasurementRow, PredictionRow, RunRow, TaskRow, as_utc
from storage.repositories.catalog import Page
from storage.repositories.tasks import find_task

__all__ = [
    "CalibrationPair",
    "calibration_pairs",
    "create_measurements",
    "list_measurements",
    "paired_measurement_keys",
    "prior_corpus_version",
    "task_filter",
]


def _measurement_rows(session: Session, values: Iterable[Mapping[str, Any]]) -> list[MeasurementRow]:
    resolved: dict[str, TaskRow | None] = {}
    rows = []
    for item in values:
        reference = str(item["task"])
        if reference not in resolved:
            resolved[reference] = find_task(session=session, reference=reference)
        task = resolved[reference]
        names = {"task": task.name, "task_id": task.id} if task is not None else {"task_id": None}
        rows.append(MeasurementRow(**{**item, **names}))
    return rows


def create_measurements(
    *,
    session: Session,
    values: Iterable[Mapping[str, Any]],
    predictions: Iterable[Mapping[str, Any]] = (),
) -> list[MeasurementRow]:
    """Store measurements. A ``task`` that names a stored task (by id, or by a name no other task shares)
    is stored as that task's name with its ``task_id``, so plans and filters find it by either.

    ``predictions`` are forecasts made for some of them before they were stored (each with the
    ``measurement_id`` of a value's ``id`` and a ``measurement_key``), written in the same transaction; one
    whose key another request stored meanwhile is dropped, the measurements stay."""
    values, predictions = list(values), list(predictions)
    for attempt in range(2):
        rows = _measurement_rows(session, values)
        session.add_all(rows)
        session.flush()  # before their predictions: predictions.measurement_id refers to them
        session.add_all(PredictionRow(**p) for p in predictions)
        try:
            session.commit()
            return rows
        except IntegrityError:
            session.rollback()
            if attempt or not predictions:
                raise
            taken = paired_measurement_keys(session=session, keys=[str(p["measurement_key"]) for p in predictions])
            predictions = [p for p in predictions if p["measurement_key"] not in taken]
    raise AssertionError("unreachable")


def paired_measurement_keys(*, session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these measurement fingerprints already have an out-of-sample prediction stored."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start : start + 500]
        found.update(
            str(k)
            for k in session.scalars(
                select(PredictionRow.measurement_key).where(PredictionRow.measurement_key.in_(chunk))
            )
        )
    return found


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


PairSource = Literal["run", "import"]


@dataclass(frozen=True, slots=True)
class CalibrationPair:
    """A prediction and the measurement that verified it: a run's (the prediction its plan stored before the
    run) or an imported result's (the forecast made before it was stored)."""

    prediction: PredictionRow
    measurement: MeasurementRow
    source: PairSource = "run"


def calibration_pairs(*, session: Session, task: str | None = None) -> list[CalibrationPair]:
    """Every (prediction, measurement) linked through a run (``runs.prediction_id``, ``measurements.run_id``)
    or through ``predictions.measurement_id`` (imports), oldest measurement first, or those of the task
    ``task`` names (by id or name, as :func:`task_filter`)."""
    runs = select(PredictionRow, MeasurementRow).join(RunRow, RunRow.prediction_id == PredictionRow.id)
    runs = runs.join(MeasurementRow, MeasurementRow.run_id == RunRow.id)
    imports = select(PredictionRow, MeasurementRow).join(
        MeasurementRow, MeasurementRow.id == PredictionRow.measurement_id
    )
    runs, imports = (q.order_by(MeasurementRow.created_at, MeasurementRow.id) for q in (runs, imports))
    if task is not None:
        condition = task_filter(session=session, reference=task)
        runs, imports = runs.where(condition), imports.where(condition)
    sources: tuple[tuple[PairSource, Any], ...] = (("run", runs), ("import", imports))
    pairs = [
        CalibrationPair(prediction=prediction, measurement=measurement, source=source)
        for source, query in sources
        for prediction, measurement in session.execute(query).all()
    ]
    return sorted(pairs, key=lambda pair: as_utc(pair.measurement.created_at))
