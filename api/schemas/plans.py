"""Plans: a task, candidates (a list or a grid), a budget and an objective -> a recommendation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.cost import Candidate, InlineModel
from api.schemas.tasks import TaskSpec, UtcDatetime
from predictors.cost import EvaluationConfig, HardwareRequest, TrainingConfig
from predictors.validation import EdgeModel

__all__ = [
    "Budget",
    "BudgetPick",
    "Grid",
    "Infeasible",
    "Plan",
    "PlanRequest",
    "PlanSummary",
    "PlanVersion",
    "TaskSpec",
    "Weights",
]

MAX_GRID_CANDIDATES = 100_000


class Grid(EdgeModel):
    """Every combination of models × methods × hardware × training configurations."""

    model_config = ConfigDict(extra="forbid")

    models: list[str | InlineModel] = Field(..., min_length=1, max_length=1000)
    methods: list[dict[str, Any]] = Field(..., min_length=1, max_length=1000)
    hardware: list[HardwareRequest] = Field(
        default_factory=lambda: [HardwareRequest(gpu="H100-SXM")], min_length=1, max_length=100
    )
    training: list[TrainingConfig] = Field(default_factory=lambda: [TrainingConfig()], min_length=1, max_length=1000)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @property
    def size(self) -> int:
        return len(self.models) * len(self.methods) * len(self.hardware) * len(self.training)

    @model_validator(mode="after")
    def _bounded(self) -> Grid:
        if self.size > MAX_GRID_CANDIDATES:
            raise ValueError(f"expands to {self.size} candidates; at most {MAX_GRID_CANDIDATES}")
        return self

    def expand(self) -> list[Candidate]:
        return [
            Candidate(model=model, method=method, training=training, hardware=hardware, evaluation=self.evaluation)
            for model in self.models
            for method in self.methods
            for hardware in self.hardware
            for training in self.training
        ]


class Budget(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    max_usd: float | None = Field(None, gt=0, le=1e9, description="Hard cap on adaptation + evaluation USD.")
    max_gpu_hours: float | None = Field(None, gt=0, le=1e9, description="Hard cap on GPU-hours.")


class Weights(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    accuracy: float = Field(1.0, ge=0, le=1e6)
    cost: float = Field(0.0, ge=0, le=1e6)


class WeightsObjective(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    weights: Weights


class PlanRequest(EdgeModel):
    """PRODUCT.md ``PlanRequest``: exactly one of ``candidates`` or ``grid``."""

    model_config = ConfigDict(extra="forbid")

    task: TaskSpec | str = Field(
        ..., description="An inline task, or the id (or unique name) of one created with POST /v1/tasks."
    )
    candidates: list[Candidate] | None = Field(None, min_length=1, max_length=MAX_GRID_CANDIDATES)
    grid: Grid | None = None
    budget: Budget = Field(default_factory=Budget)
    objective: Literal["max_accuracy", "bands"] | WeightsObjective = "max_accuracy"
    interval: float = Field(0.9, gt=0.5, lt=1.0, description="Central coverage of accuracy intervals.")

    @model_validator(mode="after")
    def _one_source(self) -> PlanRequest:
        if (self.candidates is None) == (self.grid is None):
            raise ValueError("give exactly one of 'candidates' or 'grid'")
        return self

    @property
    def candidate_count(self) -> int:
        return len(self.candidates) if self.candidates is not None else self.grid.size  # type: ignore[union-attr]

    def expanded_candidates(self) -> list[Candidate]:
        return list(self.candidates) if self.candidates is not None else self.grid.expand()  # type: ignore[union-attr]


class PlanSummary(BaseModel):
    id: str
    status: str
    task: str
    n_candidates: int
    recommendation: dict[str, Any] | None
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PlanVersion(BaseModel):
    """One prediction of a plan: what triggered it and what changed against the version before."""

    version: int
    created_at: UtcDatetime
    trigger: dict[str, Any] = Field(description='{"reason": "created"} or the new measurements that triggered it.')
    changed: dict[str, Any] = Field(description="pick {from, to} or null, moved forecasts (largest first), n_moved.")


class BudgetPick(BaseModel):
    """A step of the budget rule (highest predicted accuracy within the budget, ties to the cheaper)."""

    from_usd: float = Field(description="The pick holds for a max_usd budget from this many dollars on.")
    index: int = Field(description="The candidate picked (its row's index).")


class Infeasible(BaseModel):
    """Why a plan has no recommendation: its budget is below every candidate that fits its hardware, or no
    candidate fits its hardware at all."""

    field: str = Field(
        description="budget.max_usd or budget.max_gpu_hours: the limit that excludes the cheapest fitting "
        "candidate (dollars first); grid.candidates or candidates when none fits its hardware."
    )
    max_usd: float | None = Field(description="The request's budget.max_usd.")
    max_gpu_hours: float | None = Field(description="The request's budget.max_gpu_hours.")
    cheapest_fitting_usd: float | None = Field(
        description="What the cheapest candidate that fits its hardware costs; null when none fits."
    )
    cheapest_fitting_gpu_hours: float | None = Field(description="Its GPU-hours; null when none fits.")
    detail: str = Field(
        description='In words: "nothing fits under $B; the cheapest that fits costs $Y", or which candidate '
        "needs the least memory and how much."
    )


class Plan(BaseModel):
    """PRODUCT.md ``Plan``; ``candidates`` holds every row when there are at most 2,000, otherwise the
    frontier, the band picks, the recommendation and the 500 most accurate."""

    id: str
    version: int = Field(description="The version shown (the latest unless ?version= asked for another).")
    latest_version: int
    versions: list[PlanVersion]
    status: str
    task: dict[str, Any]
    n_candidates: int
    candidates: list[dict[str, Any]]
    frontier: list[int]
    budget_picks: list[BudgetPick] | None = Field(
        None,
        description="The pick under every max_usd budget at once, by rising from_usd: under a budget B it is "
        "the last step with from_usd <= B, none below the first (the request's max_gpu_hours applies; only "
        "candidates that fit their hardware). Absent from plans stored before it existed.",
    )
    recommendation: dict[str, Any] | None = Field(
        description="The pick's row with reason, expected_regret and probability_best (the share of the "
        "planner's Monte-Carlo draws in which it is the most accurate within the budget); null when the "
        "budget admits nothing (then infeasible says why)."
    )
    infeasible: Infeasible | None = Field(
        None, description="Present when nothing fits the budget, or no candidate fits its hardware."
    )
    bands: dict[str, Any]
    probes_to_buy: list[dict[str, Any]]
    prediction_cost_usd: float
    exhaustive_cost_usd: float
    cost_reduction_ratio: float | None
    tiers: dict[str, int]
    candidate_columns: dict[str, Any] | None = Field(
        None,
        description="With ?columns=true: every candidate as columns (indices into axes, costs, forecast).",
    )
    request: dict[str, Any]
    created_at: UtcDatetime
    updated_at: UtcDatetime
