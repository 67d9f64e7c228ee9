"""Plans and the predictions they make."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import MeasurementRow, PlanRow, PredictionRow
from storage.repositories.catalog import Page

__all__ = [
    "create_plan",
    "get_plan",
    "list_plans",
    "measurements_version",
    "prediction_measurements",
    "replace_plan_result",
]


def create_plan(
    *, session: Session, request: Mapping[str, Any], result: Mapping[str, Any], predictions: Iterable[Mapping[str, Any]]
) -> PlanRow:
    """Store a plan and the predictions it wants checked, in one transaction."""
    row = PlanRow(status="ready", request=dict(request), result=dict(result), task_id=request.get("task_id"))
    session.add(row)
    session.flush()
    session.add_all(PredictionRow(plan_id=row.id, **values) for values in predictions)
    session.commit()
    return row


def replace_plan_result(
    *, session: Session, plan: PlanRow, result: Mapping[str, Any], predictions: Iterable[Mapping[str, Any]]
) -> PlanRow:
    """Re-prediction: new result and prediction rows; predictions a run already verifies are kept."""
    session.execute(
        delete(PredictionRow).where(
            PredictionRow.plan_id == plan.id,
            ~PredictionRow.id.in_(select(MeasurementRow.run_id).where(MeasurementRow.run_id.is_not(None))),
        )
    )
    plan.result = dict(result)
    session.add_all(PredictionRow(plan_id=plan.id, **values) for values in predictions)
    session.commit()
    return plan


def get_plan(*, session: Session, plan_id: str) -> PlanRow:
    row = session.get(PlanRow, plan_id)
    if row is None:
        raise NotFoundError("plan", plan_id, field="plan_id")
    return row


def list_plans(*, session: Session, limit: int, offset: int) -> Page[PlanRow]:
    rows = session.scalars(select(PlanRow).order_by(PlanRow.created_at.desc()).limit(limit).offset(offset))
    total = session.scalar(select(func.count()).select_from(PlanRow)) or 0
    return Page(items=list(rows), total=total, limit=limit, offset=offset)


def prediction_measurements(*, session: Session) -> list[MeasurementRow]:
    """Every measurement with an accuracy: what the predictors learn from."""
    return list(session.scalars(select(MeasurementRow).where(MeasurementRow.accuracy.is_not(None))))


def measurements_version(*, session: Session) -> str:
    """Changes whenever a measurement is added or edited: plans computed under another version are stale."""
    count, latest = session.execute(select(func.count(MeasurementRow.id), func.max(MeasurementRow.updated_at))).one()
    stamp = latest.isoformat() if isinstance(latest, datetime) else str(latest)
    return f"{count}:{stamp}"
