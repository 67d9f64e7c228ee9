"""Plans, their versions and the predictions each version makes.

A plan is re-predicted when measurements arrive; each re-prediction that changes something is a new
version (what triggered it, what changed, its result). Predictions are never deleted: a run that verified
a prediction of version 1 keeps its pair on the calibration page whatever later versions say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import MeasurementRow, PlanRow, PlanVersionRow, PredictionRow, RunRow
from storage.repositories.catalog import Page

__all__ = [
    "add_plan_version",
    "create_plan",
    "delete_plan",
    "get_plan",
    "get_plan_version",
    "list_plan_versions",
    "list_plans",
    "measurements_by_id",
    "measurements_since",
    "measurements_watermark",
    "prediction_measurements",
    "set_plan_result",
]


def _add_version(
    session: Session,
    plan: PlanRow,
    *,
    result: Mapping[str, Any],
    predictions: Iterable[Mapping[str, Any]],
    trigger: Mapping[str, Any],
    changed: Mapping[str, Any],
) -> None:
    session.add(
        PlanVersionRow(
            plan_id=plan.id, version=plan.version, trigger=dict(trigger), changed=dict(changed), result=dict(result)
        )
    )
    session.add_all(PredictionRow(plan_id=plan.id, plan_version=plan.version, **values) for values in predictions)


def create_plan(
    *,
    session: Session,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
    predictions: Iterable[Mapping[str, Any]],
    task_id: str | None = None,
) -> PlanRow:
    """Store a plan as version 1 with the predictions it wants checked, in one transaction."""
    row = PlanRow(status="ready", request=dict(request), result=dict(result), task_id=task_id, version=1)
    session.add(row)
    session.flush()
    _add_version(session, row, result=result, predictions=predictions, trigger={"reason": "created"}, changed={})
    session.commit()
    return row


def add_plan_version(
    *,
    session: Session,
    plan: PlanRow,
    result: Mapping[str, Any],
    predictions: Iterable[Mapping[str, Any]],
    trigger: Mapping[str, Any],
    changed: Mapping[str, Any],
) -> PlanRow:
    """A re-prediction as the plan's next version; earlier versions and their predictions stay. When another
    request stored that version first (two readers re-predicting at once, from the same evidence), its
    version stands and this one is dropped."""
    plan_id = plan.id
    plan.version += 1
    plan.result = dict(result)
    _add_version(session, plan, result=result, predictions=predictions, trigger=trigger, changed=changed)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return get_plan(session=session, plan_id=plan_id)
    return plan


def set_plan_result(*, session: Session, plan: PlanRow, result: Mapping[str, Any]) -> PlanRow:
    """Replace the latest result without a new version (a re-prediction that changed nothing shown)."""
    plan.result = dict(result)
    session.commit()
    return plan


def delete_plan(*, session: Session, plan_id: str) -> None:
    """Delete a plan with its versions and the predictions no run checked. A prediction a run verified
    stays, detached from the plan, so its pair stays on the calibration page; runs keep running, planless."""
    get_plan(session=session, plan_id=plan_id)  # NotFoundError for an unknown id
    verified = select(RunRow.prediction_id).where(RunRow.prediction_id.is_not(None))
    session.execute(
        update(PredictionRow)
        .where(PredictionRow.plan_id == plan_id, PredictionRow.id.in_(verified))
        .values(plan_id=None, plan_version=None)
    )
    session.execute(delete(PredictionRow).where(PredictionRow.plan_id == plan_id))
    session.execute(delete(PlanVersionRow).where(PlanVersionRow.plan_id == plan_id))
    session.execute(update(RunRow).where(RunRow.plan_id == plan_id).values(plan_id=None))
    session.execute(delete(PlanRow).where(PlanRow.id == plan_id))
    session.commit()


def get_plan(*, session: Session, plan_id: str) -> PlanRow:
    row = session.get(PlanRow, plan_id)
    if row is None:
        raise NotFoundError("plan", plan_id, field="plan_id")
    return row


def list_plan_versions(*, session: Session, plan_id: str) -> list[PlanVersionRow]:
    return list(
        session.scalars(
            select(PlanVersionRow).where(PlanVersionRow.plan_id == plan_id).order_by(PlanVersionRow.version)
        )
    )


def get_plan_version(*, session: Session, plan_id: str, version: int) -> PlanVersionRow:
    row = session.scalars(
        select(PlanVersionRow).where(PlanVersionRow.plan_id == plan_id, PlanVersionRow.version == version)
    ).first()
    if row is None:
        raise NotFoundError(f"version of plan {plan_id!r}", str(version), field="version", location="query")
    return row


def list_plans(*, session: Session, limit: int, offset: int) -> Page[PlanRow]:
    rows = session.scalars(select(PlanRow).order_by(PlanRow.created_at.desc()).limit(limit).offset(offset))
    total = session.scalar(select(func.count()).select_from(PlanRow)) or 0
    return Page(items=list(rows), total=total, limit=limit, offset=offset)


def prediction_measurements(
    *, session: Session, task_name: str | None = None, task_id: str | None = None
) -> list[MeasurementRow]:
    """Every measurement with an accuracy: what the predictors learn from. With ``task_name``, only that
    task's rows, as ``PlanTask.owns`` reads them: the stored task ``task_id``'s and those of its name that
    carry no task id, or for an inline task (no ``task_id``) every row of the name. Oldest first, so the
    newest are the ones a forecast's bounded ``evidence`` keeps."""
    query = (
        select(MeasurementRow)
        .where(MeasurementRow.accuracy.is_not(None))
        .order_by(MeasurementRow.updated_at, MeasurementRow.id)
    )
    if task_name is not None:
        named = MeasurementRow.task == task_name
        if task_id is not None:
            named = or_(MeasurementRow.task_id == task_id, and_(MeasurementRow.task_id.is_(None), named))
        query = query.where(named)
    return list(session.scalars(query))


def measurements_watermark(*, session: Session) -> dict[str, Any]:
    """Changes whenever a measurement is added or edited: plans computed under another one are stale.
    ``latest`` is the newest measurement's time (ISO), from which :func:`measurements_since` reads on."""
    # two scalar subqueries, so the newest edit is an index seek (ix_measurements_updated_at), not a scan
    count, latest = session.execute(
        select(
            select(func.count()).select_from(MeasurementRow).scalar_subquery(),
            select(func.max(MeasurementRow.updated_at)).scalar_subquery(),
        )
    ).one()
    return {"count": int(count), "latest": latest.isoformat() if isinstance(latest, datetime) else latest}


def measurements_by_id(*, session: Session, ids: Iterable[str]) -> dict[str, MeasurementRow]:
    """The measurements of ``ids`` that exist, by id (a deleted one is simply absent)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(MeasurementRow).where(MeasurementRow.id.in_(wanted)))}


def measurements_since(*, session: Session, watermark: Mapping[str, Any] | None) -> list[MeasurementRow]:
    """Measurements added or edited after ``watermark`` (all of them without one), oldest first."""
    query = select(MeasurementRow).order_by(MeasurementRow.updated_at, MeasurementRow.id)
    latest = (watermark or {}).get("latest")
    if isinstance(latest, str):
        query = query.where(MeasurementRow.updated_at > datetime.fromisoformat(latest))
    return list(session.scalars(query))
