"""The CI plan file (``tunecast gate plan.yaml``, ``POST /v1/gate``) and the gate's report."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.plans import PlanRequest
from predictors.validation import EdgeModel

__all__ = ["GateReport", "PlanFile", "RequirementResult", "Requirements"]


class Requirements(EdgeModel):
    """What a plan must be predicted to achieve for the gate to pass."""

    model_config = ConfigDict(extra="forbid")

    min_accuracy: float | None = Field(
        None, ge=0, le=1, description="Accuracy the chosen candidate must reach, as a fraction."
    )
    confidence: float = Field(
        0.9,
        ge=0.8,
        le=0.99,
        description="One-sided confidence that accuracy >= min_accuracy (uses the interval's lower bound).",
    )
    max_inference_usd_per_1k_queries: float | None = Field(
        None, gt=0, le=1e6, description="Serving cost cap of the chosen candidate."
    )


class PlanFile(PlanRequest):
    """A plan for CI: a plan request (task, candidates or grid, budget) plus requirements.

    The interval level is derived from ``requirements.confidence`` (a central interval at 2c − 1 has
    its lower bound at one-sided confidence c), so ``interval`` in the file is ignored.
    """

    model_config = ConfigDict(extra="forbid", title="tunecast plan file")

    version: Literal[1] = Field(1, description="Plan-file format version.")
    name: str | None = Field(None, max_length=200, description="Shown in reports.")
    requirements: Requirements = Field(default_factory=Requirements)

    def plan_request(self) -> PlanRequest:
        return PlanRequest(
            task=self.task,
            candidates=self.candidates,
            grid=self.grid,
            budget=self.budget,
            objective="max_accuracy",
            interval=round(2 * self.requirements.confidence - 1, 6),
        )


class RequirementResult(BaseModel):
    name: str
    passed: bool
    required: float | None
    predicted: float | None
    margin: float | None = Field(
        description="predicted - required (positive passes) for minimums, required - predicted for caps."
    )
    detail: str


class GateReport(BaseModel):
    passed: bool
    exit_code: Literal[0, 1]
    name: str | None
    summary: str
    chosen: dict[str, Any] | None
    requirements: list[RequirementResult]
    alternatives: list[dict[str, Any]]
    n_candidates: int
    markdown: str
