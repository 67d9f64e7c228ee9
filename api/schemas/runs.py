"""Runs: what ``POST /v1/runs`` takes and what ``/v1/runs/{id}`` returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.tasks import UtcDatetime
from predictors.cost import EvaluationConfig, HardwareRequest, TrainingConfig
from predictors.validation import EdgeModel

__all__ = ["RunCandidate", "RunCreate", "RunKind", "RunModel", "RunOptions", "RunPublic", "RunStatus"]

RunKind = Literal["finetune", "icl_probe", "proxy_probe", "passuntil_probe"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RunModel(EdgeModel):
    """The model a worker loads, offline: a catalog id it resolves under its model roots, or a path inside them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=128, description="Model id (a catalog id, or your own name).")
    path: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="A Hugging Face directory or .gguf file inside a model root (TUNECAST_MODEL_DIRS) or a packaged "
        "model; omitted, the worker finds <root>/<id>.",
    )
    architecture: dict[str, Any] | None = Field(
        None, max_length=2000, description="Its config.json fields, when not a catalog id: the weights must match."
    )


class RunCandidate(EdgeModel):
    """A Candidate (PRODUCT.md) as a worker runs it: the model as a catalog id or ``{"id", "path"?}``, and the
    same training fields a plan's candidate has (so a verification run is the candidate that was planned)."""

    model_config = ConfigDict(extra="forbid")

    model: str | RunModel = Field(..., description='A model id, e.g. "smollm2-135m-instruct", or {"id", "path"}.')
    method: dict[str, Any] = Field(..., max_length=64, description='e.g. {"name": "lora", "rank": 8}.')
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    hardware: HardwareRequest | None = Field(
        None, description="What the run was planned on (its cost prediction); the measurement records what it ran on."
    )
    evaluation: EvaluationConfig | None = Field(None, description="The planned evaluation workload (kept as planned).")


class RunOptions(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(None, ge=1, le=10_000_000, description="Optimizer steps (default: epochs over train).")
    learning_rate: float | None = Field(None, gt=0, le=10)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    eval_limit: int = Field(1000, ge=1, le=1_000_000, description="Test examples evaluated at most.")
    eval_batch_size: int = Field(16, ge=1, le=4096)
    shots: int | None = Field(None, ge=0, le=1024, description="icl_probe: overrides the method's shots.")
    retriever: Literal["random", "fixed", "bm25", "embedding"] | None = None
    max_new_tokens: int = Field(16, ge=1, le=4096)
    l2: float | None = Field(None, gt=0, le=1e6, description="proxy_probe: L2 strength of the head.")
    passuntil_r: int = Field(2, ge=1, le=100, description="passuntil_probe: passes required per item.")
    passuntil_k_max: int = Field(64, ge=1, le=100_000, description="passuntil_probe: sampling cap per item.")
    temperature: float = Field(1.0, gt=0, le=10, description="passuntil_probe: sampling temperature.")
    time_limit_s: float | None = Field(
        None, gt=0, le=11 * 3600, description="Fail the run past this (default: 5x predicted on GPU, at most 11 h)."
    )


class RunCreate(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    kind: RunKind
    candidate: RunCandidate
    task: str = Field(
        ...,
        max_length=200,
        description="Task id or unique name; its latest dataset is used unless 'dataset' names one.",
    )
    dataset: str | None = Field(None, max_length=64)
    plan: str | None = Field(None, max_length=64)
    prediction: str | None = Field(None, max_length=64, description="Prediction row this run verifies.")
    options: RunOptions = Field(default_factory=RunOptions)
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200, description="Same key, same run (the Idempotency-Key header also works)."
    )


class RunPublic(BaseModel):
    id: str
    kind: str
    status: RunStatus
    queue: str
    task: str | None
    dataset: str | None
    plan: str | None
    prediction: str | None
    candidate: dict[str, Any]
    label: str = Field(
        description="The candidate as people read it (model · method, its main setting and each parameter unlike "
        "its default · hardware): the label its plan's row has (api/candidates.py)."
    )
    options: dict[str, Any]
    predicted: dict[str, Any] = Field(description="Predicted peak_memory_bytes / step_time_s used for routing.")
    progress: dict[str, Any] = Field(description="Latest step, total, loss and phase.")
    result: dict[str, Any]
    error: str | None
    cancel_requested: bool
    attempts: int = Field(description="Deliveries so far (a run whose worker died is delivered again).")
    waiting_for: dict[str, Any] | None = Field(
        None, description="For a queued run: live workers on its queue, and what to do when there is none."
    )
    queue_position: int | None = Field(
        None, ge=1, description="For a queued run: its place in its queue (1: the next one a worker takes)."
    )
    predicted_accuracy: dict[str, Any] | None = Field(
        None,
        description="The accuracy its plan predicted for this candidate (mean, lower, upper, tier, predictor), "
        "when the run verifies a prediction: the result's accuracy is checked against it.",
    )
    idempotency_key: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
