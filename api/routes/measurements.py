"""Measurements: what runs observed, and results imported with a citation."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from api.deps import SessionDep
from api.import_pairs import import_measurements
from api.request_checks import BodyProblemError, CheckedRoute
from api.schemas.common import Limit, Offset, Page
from api.schemas.measurements import CsvRowError, MeasurementCreate, MeasurementPublic, measurement_dicts_from_csv
from storage.models import MeasurementRow
from storage.repositories import measurements as measurements_repo

__all__ = ["router", "to_public"]

router = APIRouter(prefix="/measurements", tags=["measurements"], route_class=CheckedRoute)


def to_public(row: MeasurementRow) -> MeasurementPublic:
    return MeasurementPublic.model_validate(
        {
            **{name: getattr(row, name) for name in MeasurementPublic.model_fields if hasattr(row, name)},
            "model": row.model_id,
            "method": row.method_name,
            "run": row.run_id,
        }
    )


MAX_MEASUREMENTS_PER_POST = 10_000
_BODY = TypeAdapter(list[MeasurementCreate])
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 10_000,
                    "items": MeasurementCreate.model_json_schema(),
                }
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "task,model,method,method_config,accuracy,eval_examples,source\n"
                'sst2,llama-2-7b,lora,"{""rank"": 8}",0.91,872,"import:Hu et al. 2021, Table 2"\n',
            },
        },
    }
}


def _body_error(message: str, *loc: Any, kind: str = "value_error", **ctx: str) -> RequestValidationError:
    """A 422 about the request body (``loc`` below it), in the form the problem handler renders."""
    error: dict[str, Any] = {"loc": ("body", *loc), "msg": message, "type": kind}
    if ctx:
        error["ctx"] = ctx
    return RequestValidationError([error])


async def measurements_body(request: Request) -> list[MeasurementCreate]:
    """The POSTed measurements: a JSON list, or a CSV upload (``Content-Type: text/csv``), 1 to 10,000."""
    raw = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == "text/csv":
            try:
                data: Any = measurement_dicts_from_csv(raw.decode("utf-8-sig"))
            except UnicodeDecodeError:
                raise _body_error("CSV must be UTF-8 text") from None
            except CsvRowError as exc:
                raise _body_error(
                    f"{exc.where}: {exc.message}", *(() if exc.row < 0 else (exc.row,)), exc.column
                ) from None
        else:
            data = await request.json()  # parsed and checked by CheckedRoute before the route runs
    except json.JSONDecodeError as exc:
        raise _body_error("invalid", kind="json_invalid", error=exc.msg) from None
    except BodyProblemError as exc:  # a JSON body sent without a content type
        raise _body_error(exc.message, *exc.path) from None
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_MEASUREMENTS_PER_POST:
        count = f"got {len(data)}" if isinstance(data, list) else f"got a JSON {type(data).__name__}"
        raise _body_error(f"must be a list of 1 to {MAX_MEASUREMENTS_PER_POST} measurements ({count})")
    try:
        return _BODY.validate_python(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


@router.post(
    "", response_model=list[MeasurementPublic], status_code=status.HTTP_201_CREATED, openapi_extra=_OPENAPI_BODY
)
def create_measurements(
    session: SessionDep, body: Annotated[list[MeasurementCreate], Depends(measurements_body)]
) -> list[MeasurementPublic]:
    """Store imported measurements: a JSON list, or CSV (``Content-Type: text/csv``, one row each). Each new
    one (the first 1,000 of a body) is stored with the forecast a plan would have made for it just before, a
    calibration pair for ``GET /v1/calibration``."""
    values = [
        {**item.model_dump(), "model_id": item.model_id, "method_name": item.method_name, "run_id": None}
        for item in body
    ]
    return [to_public(row) for row in import_measurements(session=session, values=values)]


@router.get("", response_model=Page[MeasurementPublic])
def list_measurements(
    session: SessionDep,
    limit: Limit = 100,
    offset: Offset = 0,
    task: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[MeasurementPublic]:
    page = measurements_repo.list_measurements(session=session, limit=limit, offset=offset, task=task, model_id=model)
    return Page[MeasurementPublic](
        items=[to_public(r) for r in page.items], total=page.total, limit=limit, offset=offset
    )
