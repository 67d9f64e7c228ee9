"""The CI gate as a pure function over the planner's arrays: verdict, chosen candidate, checks, alternatives."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.gating import Requirements, evaluate_gate
from predictors.planner import Budget, CandidateScores

# candidate:      0     1     2     3
COST_USD = [1.0, 2.0, 4.0, 8.0]
MEAN = [0.50, 0.70, 0.80, 0.90]
LOWER = [0.45, 0.60, 0.72, 0.70]
SERVING_USD = [0.1, 0.2, 0.3, 0.4]


def scores() -> CandidateScores:
    upper = [m + (m - lo) for m, lo in zip(MEAN, LOWER, strict=True)]
    return CandidateScores.from_lists(
        cost_usd=COST_USD, accuracy_mean=MEAN, accuracy_lower=LOWER, accuracy_upper=upper, gpu_hours=[1, 2, 3, 4]
    )


def test_passes_with_the_most_accurate_passing_candidate_and_names_a_cheaper_one() -> None:
    outcome = evaluate_gate(
        scores(),
        inference_usd_per_1k_queries=SERVING_USD,
        budget=Budget(max_usd=5.0),
        requirements=Requirements(min_accuracy=0.55),
    )
    assert outcome.passed and outcome.chosen == 2 and outcome.n_passing == 2
    assert [(c.name, c.passed, c.predicted) for c in outcome.checks] == [
        ("budget.max_usd", True, 4.0),
        ("requirements.min_accuracy", True, 0.72),
    ]
    assert outcome.checks[1].margin == pytest.approx(0.72 - 0.55)
    assert [(a.kind, a.index) for a in outcome.alternatives] == [("cheaper_passing", 1)]


def test_a_budget_below_every_candidate_judges_the_cheapest_and_names_what_would_pass() -> None:
    outcome = evaluate_gate(
        scores(),
        inference_usd_per_1k_queries=SERVING_USD,
        budget=Budget(max_usd=0.5),
        requirements=Requirements(min_accuracy=0.65),
    )
    assert not outcome.passed and outcome.chosen is None
    budget_check, accuracy_check = outcome.checks
    assert budget_check.subject == 0 and budget_check.predicted == 1.0 and budget_check.margin == pytest.approx(-0.5)
    assert not accuracy_check.passed and accuracy_check.predicted is None
    assert [(a.kind, a.index) for a in outcome.alternatives] == [("would_pass", 2)]  # cheapest with lower >= 0.65


def test_a_missed_requirement_names_the_safest_candidate_within_the_budget() -> None:
    outcome = evaluate_gate(
        scores(),
        inference_usd_per_1k_queries=SERVING_USD,
        budget=Budget(max_usd=10.0),
        requirements=Requirements(min_accuracy=0.75, max_inference_usd_per_1k_queries=0.35),
    )
    # nothing has lower >= 0.75: the pick is the most accurate within the budget (3), the safest is 2
    assert not outcome.passed and outcome.chosen == 3
    assert [(c.name, c.passed) for c in outcome.checks] == [
        ("budget.max_usd", True),
        ("requirements.min_accuracy", False),
        ("requirements.max_inference_usd_per_1k_queries", False),
    ]
    assert [(a.kind, a.index) for a in outcome.alternatives] == [("safest", 2)]


def test_the_chosen_candidate_is_the_budget_rule_over_those_that_pass() -> None:
    rng = np.random.default_rng(4)
    n = 300
    mean = np.round(rng.uniform(0.3, 0.9, n), 2)
    lower = mean - rng.uniform(0, 0.2, n)
    gate_scores = CandidateScores.from_lists(
        cost_usd=np.round(rng.uniform(1, 100, n)),
        accuracy_mean=mean,
        accuracy_lower=lower,
        accuracy_upper=mean + 0.1,
        gpu_hours=rng.uniform(0, 10, n),
    )
    serving = rng.uniform(0, 1, n)
    budget, requirements = Budget(max_usd=60.0, max_gpu_hours=7.0), Requirements(0.6, 0.8)
    outcome = evaluate_gate(gate_scores, inference_usd_per_1k_queries=serving, budget=budget, requirements=requirements)
    passing = [
        i
        for i in range(n)
        if gate_scores.cost_usd[i] <= 60 and gate_scores.gpu_hours[i] <= 7 and lower[i] >= 0.6 and serving[i] <= 0.8
    ]
    assert outcome.passed and outcome.n_passing == len(passing)
    assert outcome.chosen == max(passing, key=lambda i: (mean[i], -gate_scores.cost_usd[i]))
