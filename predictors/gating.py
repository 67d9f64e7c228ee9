"""The CI gate as a pure function: does a plan reach its requirements within its budget?

The gate passes when some candidate that fits its hardware is within the budget (:class:`Budget`) and is
predicted to meet every requirement (accuracy at the stated one-sided confidence, read from the interval's
lower bound; serving cost); it then names the best such candidate by the budget rule
(:func:`predictors.planner.best_within`). Otherwise it says which requirement failed, by how much, and
which candidate would pass with more budget or is the safest within it. The CLI and ``POST /v1/gate``
format the :class:`GateOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from predictors.planner import Budget, CandidateScores, best_within

__all__ = ["Alternative", "GateOutcome", "RequirementCheck", "Requirements", "evaluate_gate"]


@dataclass(frozen=True, slots=True)
class Requirements:
    """What the chosen candidate must be predicted to achieve (None: not required)."""

    min_accuracy: float | None = None
    max_inference_usd_per_1k_queries: float | None = None


@dataclass(frozen=True, slots=True)
class RequirementCheck:
    """One budget limit or requirement against ``subject``'s prediction (None: no candidate to judge).
    ``margin`` is positive when it passes."""

    name: str
    passed: bool
    required: float
    predicted: float | None
    margin: float | None
    subject: int | None


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another candidate worth naming: one that ``would_pass`` with a budget of its cost, the ``safest``
    within the budget (highest accuracy lower bound), or a ``cheaper_passing`` one."""

    kind: Literal["would_pass", "safest", "cheaper_passing"]
    index: int


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """The verdict; indices are positions in the gate's :class:`CandidateScores`."""

    passed: bool
    chosen: int | None
    n_passing: int
    checks: list[RequirementCheck]
    alternatives: list[Alternative]


def _meets(scores: CandidateScores, serving_usd: NDArray[np.float64], req: Requirements) -> NDArray[np.bool_]:
    mask = np.ones(scores.n_candidates, dtype=bool)
    if req.min_accuracy is not None:
        mask &= scores.accuracy_lower >= req.min_accuracy
    if req.max_inference_usd_per_1k_queries is not None:
        mask &= serving_usd <= req.max_inference_usd_per_1k_queries
    return mask


def _cap(
    name: str, required: float, values: NDArray[np.float64], subject: int | None, judged: bool
) -> RequirementCheck:
    """A cap (``predicted <= required``); it fails whenever no candidate is ``judged`` (chosen)."""
    predicted = None if subject is None else float(values[subject])
    margin = None if predicted is None else required - predicted
    return RequirementCheck(name, judged and margin is not None and margin >= 0, required, predicted, margin, subject)


def _checks(
    scores: CandidateScores,
    serving_usd: NDArray[np.float64],
    budget: Budget,
    req: Requirements,
    chosen: int | None,
) -> list[RequirementCheck]:
    """Each limit and requirement given: the budget's against the chosen candidate, or the cheapest when none
    is within the budget; the requirements against the chosen one."""
    cheapest = int(np.argmin(scores.cost_usd)) if scores.n_candidates else None  # none: nothing fits its hardware
    subject = chosen if chosen is not None else cheapest
    checks = []
    if budget.max_usd is not None:
        checks.append(_cap("budget.max_usd", budget.max_usd, scores.cost_usd, subject, chosen is not None))
    if budget.max_gpu_hours is not None:
        checks.append(_cap("budget.max_gpu_hours", budget.max_gpu_hours, scores.gpu_hours, subject, chosen is not None))
    if req.min_accuracy is not None:
        lower = None if chosen is None else float(scores.accuracy_lower[chosen])
        margin = None if lower is None else lower - req.min_accuracy
        passed = margin is not None and margin >= 0
        checks.append(RequirementCheck("requirements.min_accuracy", passed, req.min_accuracy, lower, margin, chosen))
    if req.max_inference_usd_per_1k_queries is not None:
        cap = req.max_inference_usd_per_1k_queries
        checks.append(_cap("requirements.max_inference_usd_per_1k_queries", cap, serving_usd, chosen, True))
    return checks


def _alternatives(
    scores: CandidateScores,
    affordable: NDArray[np.bool_],
    meeting: NDArray[np.bool_],
    chosen: int | None,
    passed: bool,
) -> list[Alternative]:
    """What to try instead of a failing plan, or a cheaper candidate that also passes."""
    cost = scores.cost_usd
    if passed and chosen is not None:
        cheaper = np.flatnonzero(affordable & meeting & (cost < cost[chosen]))
        return [Alternative("cheaper_passing", int(cheaper[np.argmin(cost[cheaper])]))] if cheaper.size else []
    found = []
    if meeting.any():
        candidates = np.flatnonzero(meeting)
        found.append(Alternative("would_pass", int(candidates[np.argmin(cost[candidates])])))
    if affordable.any():
        candidates = np.flatnonzero(affordable)
        safest = int(candidates[np.argmax(scores.accuracy_lower[candidates])])
        if safest != chosen:
            found.append(Alternative("safest", safest))
    return found


def evaluate_gate(
    scores: CandidateScores,
    *,
    inference_usd_per_1k_queries: ArrayLike,
    budget: Budget,
    requirements: Requirements,
) -> GateOutcome:
    """The gate over the candidates that fit their hardware (``scores``; ``accuracy_lower`` at the
    requirement's one-sided confidence) and their serving costs."""
    serving_usd = np.asarray(inference_usd_per_1k_queries, dtype=float)
    affordable = budget.admits(scores.cost_usd, scores.gpu_hours)
    meeting = _meets(scores, serving_usd, requirements)
    passing = affordable & meeting
    chosen = best_within(scores, passing) if passing.any() else best_within(scores, affordable)
    checks = _checks(scores, serving_usd, budget, requirements, chosen)
    passed = bool(passing.any()) and all(c.passed for c in checks)
    return GateOutcome(
        passed=passed,
        chosen=chosen,
        n_passing=int(passing.sum()),
        checks=checks,
        alternatives=_alternatives(scores, affordable, meeting, chosen, passed),
    )
