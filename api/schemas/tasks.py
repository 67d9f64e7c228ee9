"""Tasks: what ``/v1/tasks`` takes and returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["TaskCreate", "TaskKind", "TaskPublic", "UtcDatetime"]


def _as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; every stored timestamp is UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

TaskKind = Literal["classification", "multiple_choice", "generation"]


class TaskBase(BaseModel):
    name: str = Field(..., min_length=1, max_length=200, description="A human name for the task.")
    kind: TaskKind = Field(..., description="classification, multiple_choice or generation.")
    chance_accuracy: float | None = Field(
        None, ge=0.0, le=1.0, description="Accuracy of guessing (set from the first dataset when omitted)."
    )


class TaskCreate(TaskBase):
    model_config = ConfigDict(extra="forbid")

    stats: dict[str, Any] = Field(default_factory=dict, max_length=100, description="Known data statistics.")


class TaskPublic(TaskBase):
    id: str
    stats: dict[str, Any]
    created_at: UtcDatetime
