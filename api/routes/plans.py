"""Plans: candidates costed and forecast, the frontier, and a recommendation under a budget; every
re-prediction is a version."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import JSONResponse

from api import plan_export, planning
from api.deps import CallerDep, PlanLimitDep, PlanSlot, SessionDep
from api.request_checks import CheckedRoute
from api.responses import model_response
from api.schemas.common import NOT_FOUND_REFERENCE, Limit, Offset, Page
from api.schemas.plans import Plan, PlanRequest, PlanSummary
from api.security import check_plan_caps
from storage.repositories import plans as plans_repo

router = APIRouter(prefix="/plans", tags=["plans"], route_class=CheckedRoute)

PlanId = Annotated[str, Path(max_length=64)]


def _public(session: SessionDep, plan_id: str, version: int | None = None, **extra: Any) -> Plan:
    plan = plans_repo.get_plan(session=session, plan_id=plan_id)
    if version is not None:
        plans_repo.get_plan_version(session=session, plan_id=plan_id, version=version)  # 404 on an unknown one
    versions = plans_repo.list_plan_versions(session=session, plan_id=plan_id)
    return Plan.model_validate({**planning.plan_public(plan, versions=versions, version=version), **extra})


@router.post(
    "",
    response_model=Plan,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND_REFERENCE,
    dependencies=[PlanSlot],
)
def create_plan(
    session: SessionDep,
    body: PlanRequest,
    caller: CallerDep,
    columns: Annotated[
        bool, Query(description="Also return every candidate as columns (candidate_columns), not only the rows shown.")
    ] = False,
) -> Response:
    check_plan_caps(caller, body.candidate_count, "candidates" if body.candidates is not None else "grid")
    plan, every_candidate = planning.create_plan(session=session, request=body, columns=columns)
    return model_response(_public(session, plan.id, candidate_columns=every_candidate), status_code=201)


@router.get("", response_model=Page[PlanSummary])
def list_plans(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> Page[PlanSummary]:
    page = plans_repo.list_plans(session=session, limit=limit, offset=offset)
    items = [
        PlanSummary(
            id=row.id,
            status=row.status,
            task=str(row.result.get("task", {}).get("name", "")),
            n_candidates=int(row.result.get("n_candidates", 0)),
            recommendation=row.result.get("recommendation"),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in page.items
    ]
    return Page[PlanSummary](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{plan_id}", response_model=Plan)
def read_plan(
    session: SessionDep,
    plans: PlanLimitDep,
    plan_id: PlanId,
    version: Annotated[
        int | None, Query(ge=1, le=10**9, description="A past version (default: re-predict if stale, then the latest).")
    ] = None,
) -> Plan:
    """The latest version, re-predicted first when measurements arrived since; ``?version=N`` for a past one.
    A re-prediction takes a plan slot if one is free, else 503 (it already holds a thread: it does not queue)."""
    if version is None:
        planning.read_plan(session=session, plan_id=plan_id, take_slot=plans.acquire)
    return _public(session, plan_id, version)


@router.delete("/{plan_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND_REFERENCE)
def delete_plan(session: SessionDep, plan_id: PlanId) -> Response:
    """Delete a plan and its versions; predictions that a run verified stay for calibration, runs stay planless."""
    plans_repo.delete_plan(session=session, plan_id=plan_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{plan_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The plan's rows: CSV with a header line, or JSON {id, version, columns, rows}.",
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}},
        },
        **NOT_FOUND_REFERENCE,
    },
)
def export_plan(
    session: SessionDep,
    plan_id: PlanId,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json.")] = "json",
    version: Annotated[int | None, Query(ge=1, le=10**9, description="A past version (default: the latest).")] = None,
) -> Response:
    """One line per listed candidate (the rows ``GET /v1/plans/{id}`` lists), as stored: no re-prediction."""
    plan = _public(session, plan_id, version)
    rows = plan_export.export_rows(plan.model_dump(mode="json"))
    name = f"plan-{plan.id}-v{plan.version}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(plan_export.export_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = {"id": plan.id, "version": plan.version, "columns": list(rows[0]) if rows else [], "rows": rows}
    return JSONResponse(body, headers=headers)
