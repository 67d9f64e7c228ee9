"""Tasks: one set of fields for a task given inline in a plan and a task stored with ``POST /v1/tasks``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from predictors.validation import EdgeModel

__all__ = ["TaskCreate", "TaskFields", "TaskKind", "TaskPublic", "TaskSpec", "UtcDatetime"]


def _as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; every stored timestamp is UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

TaskKind = Literal["classification", "multiple_choice", "generation"]


class TaskFields(EdgeModel):
    """What accuracy is predicted for. The same fields inline (``PlanRequest.task``) and stored (``/v1/tasks``)."""

    name: str = Field(..., min_length=1, max_length=200, description="Task name; measurements join on it or the id.")
    kind: TaskKind = Field("multiple_choice", description="classification, multiple_choice or generation.")
    n_choices: int | None = Field(
        None,
        ge=2,
        le=100_000,
        description="Classes or answer options; sets chance_accuracy when that is omitted.",
    )
    chance_accuracy: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Accuracy of guessing (1/n_choices, or set from the first dataset).",
    )
    train_examples: int | None = Field(
        None,
        ge=1,
        le=10**10,
        description="Labelled training examples; costs train on them unless training overrides.",
    )
    test_examples: int | None = Field(None, ge=1, le=10**10, description="Examples accuracy is measured on.")

    @model_validator(mode="after")
    def _chance_from_choices(self) -> TaskFields:
        if self.kind == "generation" and self.n_choices is not None:
            raise ValueError("n_choices: a generation task has no choices")
        if self.chance_accuracy is None and self.n_choices is not None:
            self.chance_accuracy = 1.0 / self.n_choices
        return self


class TaskSpec(TaskFields):
    """An inline task (a plan's ``task``)."""

    model_config = ConfigDict(extra="forbid")


class TaskCreate(TaskFields):
    model_config = ConfigDict(extra="forbid")

    stats: dict[str, Any] = Field(default_factory=dict, max_length=100, description="Known data statistics.")


class TaskPublic(TaskFields):
    """A stored task; fields the user left out are filled from its latest dataset (``stats``)."""

    id: str
    stats: dict[str, Any]
    created_at: UtcDatetime
