"""Runs: what ``POST /v1/runs`` takes and what ``/v1/runs/{id}`` returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.tasks import UtcDatetime

__all__ = ["RunCandidate", "RunCreate", "RunModel", "RunOptions", "RunPublic", "RunTraining"]

RunKind = Literal["finetune", "icl_probe", "proxy_probe", "passuntil_probe"]


class RunModel(BaseModel):
    """Workers load models offline: a local Hugging Face directory or a ``.gguf`` file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=128, description="Model id recorded with the measurement.")
    path: str = Field(..., min_length=1, max_length=4096, description="Local HF model directory or .gguf file.")


class RunTraining(BaseModel):
    model_config = ConfigDict(extra="forbid")

    micro_batch_size: int = Field(4, ge=1, le=4096)
    seq_len: int = Field(128, ge=8, le=131072, description="Longest sequence in tokens (prompts left-truncated).")
    gradient_checkpointing: bool = False
    precision: Literal["fp32", "bf16-mixed", "bf16", "fp16", "int8", "nf4"] = Field(
        "bf16", description="On CUDA; CPU workers always compute in fp32 (the result says so)."
    )
    optimizer: Literal["adamw"] = "adamw"
    epochs: float = Field(1.0, gt=0, le=1000)
    data_fraction: float = Field(1.0, gt=0, le=1)
    gradient_accumulation_steps: int = Field(1, ge=1, le=4096)


class RunCandidate(BaseModel):
    """A Candidate (PRODUCT.md) whose model is ``{"id", "path"}``."""

    model_config = ConfigDict(extra="forbid")

    model: RunModel
    method: dict[str, Any] = Field(..., max_length=64, description='e.g. {"name": "lora", "rank": 8}.')
    training: RunTraining = Field(default_factory=RunTraining)
    hardware: dict[str, Any] | None = Field(None, max_length=16)


class RunOptions(BaseModel):
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


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RunKind
    candidate: RunCandidate
    task: str = Field(..., max_length=64, description="Task id; its latest dataset is used unless 'dataset' names one.")
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
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    queue: str
    task: str | None
    dataset: str | None
    plan: str | None
    prediction: str | None
    candidate: dict[str, Any]
    options: dict[str, Any]
    predicted: dict[str, Any] = Field(description="Predicted peak_memory_bytes / step_time_s used for routing.")
    progress: dict[str, Any] = Field(description="Latest step, total, loss and phase.")
    result: dict[str, Any]
    error: str | None
    cancel_requested: bool
    attempts: int = Field(description="Deliveries so far (a run whose worker died is delivered again).")
    idempotency_key: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
