"""Candidates and cost estimates (``POST /v1/cost``), with PRODUCT.md's contract names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.models import MODEL_ID_PATTERN
from predictors.cost import CostEstimate, EvaluationConfig, HardwareRequest, TrainingConfig
from predictors.validation import EdgeModel

__all__ = ["Candidate", "CostRequest", "CostResponse", "InlineModel", "PathModel"]


class InlineModel(EdgeModel):
    """A model given by its architecture (HF config.json fields) instead of a catalog id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=MODEL_ID_PATTERN)
    architecture: dict[str, Any] = Field(..., max_length=2000)
    training_tokens: int | None = Field(None, ge=1, le=10**15)
    benchmarks: dict[str, float] = Field(default_factory=dict, max_length=50)


class PathModel(EdgeModel):
    """A model a worker loads from a local Hugging Face directory or a GGUF file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=MODEL_ID_PATTERN)
    path: str = Field(..., min_length=1, max_length=4096)
    architecture: dict[str, Any] | None = Field(None, max_length=2000)


class Candidate(EdgeModel):
    """Base model × adaptation method × configuration × hardware (PRODUCT.md ``Candidate``)."""

    model_config = ConfigDict(extra="forbid")

    model: str | InlineModel | PathModel = Field(
        ..., description="Catalog id, an inline {id, architecture}, or {id, path} for workers."
    )
    method: dict[str, Any] = Field(
        ..., max_length=50, description='{"name": <method>, ...its parameters}; see GET /v1/methods.'
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    hardware: HardwareRequest = Field(default_factory=lambda: HardwareRequest(gpu="H100-SXM"))
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @property
    def model_id(self) -> str:
        return self.model if isinstance(self.model, str) else self.model.id


class CostRequest(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[Candidate] = Field(..., min_length=1, max_length=10_000)


class CostResponse(BaseModel):
    results: list[CostEstimate]
