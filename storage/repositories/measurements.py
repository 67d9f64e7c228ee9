"""Measurements: observed outcomes, from our runs (``run:<id>``) or imported with a citation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import MeasurementRow, PredictionRow, RunRow
from storage.repositories.catalog import Page

__all__ = ["CalibrationPair", "calibration_pairs", "create_measurements", "list_measurements"]


def create_measurements(*, session: Session, values: Iterable[Mapping[str, Any]]) -> list[MeasurementRow]:
    rows = [MeasurementRow(**item) for item in values]
    session.add_all(rows)
    session.commit()
    return rows


def list_measurements(
    *, session: Session, limit: int, offset: int, task: str | None = None, model_id: str | None = None
) -> Page[MeasurementRow]:
    query = select(MeasurementRow)
    count = select(func.count()).select_from(MeasurementRow)
    if task is not None:
        query, count = query.where(MeasurementRow.task == task), count.where(MeasurementRow.task == task)
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


def calibration_pairs(*, session: Session) -> list[CalibrationPair]:
    """Every (prediction, measurement) linked through a run (``runs.prediction_id``, ``measurements.run_id``)."""
    rows = session.execute(
        select(PredictionRow, MeasurementRow)
        .join(RunRow, RunRow.prediction_id == PredictionRow.id)
        .join(MeasurementRow, MeasurementRow.run_id == RunRow.id)
        .order_by(MeasurementRow.created_at)
    ).all()
    return [CalibrationPair(prediction=prediction, measurement=measurement) for prediction, measurement in rows]
