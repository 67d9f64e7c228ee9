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
    "ForecastReason",
    "Grid",
    "Infeasible",
    "MovedForecast",
    "Plan",
    "PlanChanges",
    "PlanRequest",
    "PlanSummary",
    "PlanVersion",
    "RunnerUp",
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


class EvidenceBrief(BaseModel):
    """A measurement a reason names."""

    id: str = Field(description="The measurement's id (GET /v1/measurements lists it).")
    task: str = Field(description="The task it measured (its name).")
    model: str = Field(description="The model it measured.")
    method: str = Field(description="The method's name.")
    source: str = Field(description="Where it came from: run:<id>, or the import's citation.")
    setting: str = Field(description='The method and its data in words: "lora r16 on 32 examples", "icl shots 8".')
    new: bool = Field(description="Added or edited since the version before (else an older one now used with them).")


class ForecastReason(BaseModel):
    """Why a forecast moved: the evidence it rests on that the version before's did not, or the prior."""

    kind: Literal["evidence", "prior", "calibration", "unexplained"] = Field(
        description="evidence: measurements of this task that the new forecast is fitted on and the old was not "
        "(probes its probe-tier fit uses, a measured run of this very candidate); prior: none of its own evidence "
        "changed and the prior was retrained on a changed corpus; calibration: the same evidence, the interval "
        "recalibrated by the retrained prior's conformal calibration; unexplained: neither changed."
    )
    text: str = Field(
        description='In words: "because of probe <id> (lora r16 on 32 examples, <model>, <source>)" or "prior '
        'retrained on a changed corpus (N measurements of other tasks)".'
    )
    measurements: list[EvidenceBrief] = Field(description="The measurements behind an evidence reason, oldest first.")
    dropped: list[str] = Field(
        description="Ids of measurements the old forecast rested on that the new one does not (deleted, edited or "
        "outranked by a better tier)."
    )


class ForecastBrief(BaseModel):
    mean: float | None = None
    lower: float | None = None
    upper: float | None = None
    tier: str | None = None
    predictor: str | None = None


class MovedForecast(BaseModel):
    """A listed candidate whose forecast moved between two versions."""

    model_config = ConfigDict(populate_by_name=True)

    index: int = Field(description="The candidate's row index.")
    label: str = Field(description="The candidate in words (model · method · hardware).")
    from_: ForecastBrief = Field(alias="from", description="Its forecast in the version before.")
    to: ForecastBrief = Field(description="Its forecast in this version.")
    because: ForecastReason | None = Field(
        None, description="Which evidence moved it. Absent from versions stored before it existed."
    )


class PlanChanges(BaseModel):
    """What a version changed against the one before (empty for version 1)."""

    pick: dict[str, Any] | None = Field(None, description="The pick {from, to} (labels) when it changed, else null.")
    moved: list[MovedForecast] = Field(
        default_factory=list, description="Forecasts that moved, largest move first (at most 50)."
    )
    n_moved: int = Field(0, description="How many listed forecasts moved in all.")
    n_repriced: int = Field(0, description="How many listed candidates' cost changed.")


class PlanVersion(BaseModel):
    """One prediction of a plan: what triggered it and what changed against the version before."""

    version: int
    created_at: UtcDatetime
    trigger: dict[str, Any] = Field(description='{"reason": "created"} or the new measurements that triggered it.')
    changed: PlanChanges = Field(description="What moved and why; each moved forecast names its evidence.")


class RunnerUp(BaseModel):
    """A step of the runner-up within a budget step: the budget rule over the other strategies."""

    from_usd: float = Field(description="This runner-up holds from this many dollars on (within its pick's step).")
    index: int = Field(description="The runner-up (its row's index).")


class BudgetPick(BaseModel):
    """A step of the budget rule (highest predicted accuracy within the budget, ties to the cheaper)."""

    from_usd: float = Field(description="The pick holds for a max_usd budget from this many dollars on.")
    index: int = Field(description="The candidate picked (its row's index).")
    runners_up: list[RunnerUp] | None = Field(
        None,
        description="The most accurate other strategy (not the pick on other hardware or shapes) under the "
        "budget, as a staircase from this step's from_usd up to the next step's: under B the last entry with "
        "from_usd <= B; empty when no other strategy fits. Absent from plans stored before it existed.",
    )


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
