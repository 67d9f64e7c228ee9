"""Datasets: JSONL uploads for a task, validated line by line and stored by content hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from api.deps import SessionDep, SettingsDep
from api.request_checks import CheckedRoute
from api.schemas.common import NOT_FOUND_REFERENCE, omit_not_null
from api.schemas.datasets import DatasetKind, DatasetPublic, ParsedExamples, parse_examples
from predictors.errors import InvalidInputError
from storage.models import DatasetRow
from storage.repositories import datasets as datasets_repo
from storage.repositories import tasks as tasks_repo

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=CheckedRoute)


class DatasetUpload:
    """A validated upload: the raw bytes and what line-by-line validation found."""

    def __init__(self, content: bytes, parsed: ParsedExamples, task_id: str | None, test_fraction: float, seed: int):
        self.content = content
        self.parsed = parsed
        self.task_id = task_id
        self.test_fraction = test_fraction
        self.seed = seed


def read_upload(
    session: SessionDep,
    file: Annotated[UploadFile, File(description="JSONL, one example per line.")],
    kind: Annotated[
        DatasetKind | None,
        Form(description="Omitted: the task's kind, else inferred from line 1.", json_schema_extra=omit_not_null),
    ] = None,
    task: Annotated[
        str | None,
        Form(max_length=64, description="Task id the dataset belongs to.", json_schema_extra=omit_not_null),
    ] = None,
    test_fraction: Annotated[float, Form(gt=0.0, lt=1.0, description="Share of examples held out.")] = 0.2,
    seed: Annotated[int, Form(ge=0, le=2**31 - 1, description="Seed of the deterministic split.")] = 0,
) -> DatasetUpload:
    if task is not None:
        task_row = tasks_repo.get_task(session=session, task_id=task, field="task", location="body")
        if kind is not None and kind != task_row.kind:
            raise InvalidInputError("kind", f"{kind!r} does not match task {task!r}, which is {task_row.kind!r}")
        kind = kind or task_row.kind  # type: ignore[assignment]
    content = file.file.read()
    return DatasetUpload(content, parse_examples(content, kind=kind), task, test_fraction, seed)


UploadDep = Annotated[DatasetUpload, Depends(read_upload)]


def to_public(row: DatasetRow) -> DatasetPublic:
    return DatasetPublic.model_validate(
        {**{name: getattr(row, name) for name in DatasetPublic.model_fields if hasattr(row, name)}, "task": row.task_id}
    )


@router.post(
    "",
    response_model=DatasetPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DatasetPublic, "description": "The same content was already stored: that dataset."},
        **NOT_FOUND_REFERENCE,
    },
)
def create_dataset(session: SessionDep, settings: SettingsDep, upload: UploadDep, response: Response) -> DatasetPublic:
    """Upload a JSONL dataset (multipart ``file``); the same content again returns the stored dataset (200)."""
    row, created = datasets_repo.create_dataset(
        session=session,
        data_dir=settings.data_dir,
        content=upload.content,
        kind=upload.parsed.kind,
        n_examples=upload.parsed.n_examples,
        task_id=upload.task_id,
        test_fraction=upload.test_fraction,
        seed=upload.seed,
        stats=upload.parsed.stats,
        chance_accuracy=upload.parsed.chance_accuracy,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return to_public(row)


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(session: SessionDep, dataset_id: str) -> DatasetPublic:
    return to_public(datasets_repo.get_dataset(session=session, dataset_id=dataset_id))
