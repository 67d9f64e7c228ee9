"""Planner: frontier, budgets, COSMOS bands (reproducing App. J), regret, probe value, CRR."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from predictors.errors import InvalidInputError
from predictors.planner import (
    CandidateScores,
    choose_by_weights,
    choose_in_bands,
    choose_under_budget,
    cost_bands,
    expected_regret,
    pareto_frontier,
    probe_value,
)

COSMOS_DIGEST = Path(__file__).resolve().parents[3] / "shared" / "research" / "cosmos.md"


def test_pareto_frontier_small_known_case() -> None:
    cost = [1.0, 2.0, 3.0, 2.0, 5.0, 0.5]
    acc = [0.6, 0.7, 0.65, 0.8, 0.9, 0.5]
    assert pareto_frontier(cost, acc).tolist() == [5, 0, 3, 4]


def test_pareto_frontier_is_invariant_to_order() -> None:
    rng = np.random.default_rng(1)
    cost, acc = rng.random(200), rng.random(200)
    perm = rng.permutation(200)
    assert sorted(perm[pareto_frontier(cost[perm], acc[perm])].tolist()) == sorted(pareto_frontier(cost, acc).tolist())
    frontier = pareto_frontier(cost, acc)
    for i in range(200):  # nothing off the frontier dominates a frontier point
        for j in frontier:
            assert not (cost[i] <= cost[j] and acc[i] > acc[j] and i != j) or cost[i] == cost[j]


def test_pareto_frontier_matches_its_definition_with_ties_and_missing_accuracy() -> None:
    """A point is on the frontier when it is more accurate than every strictly cheaper point, and the
    first (most accurate) of its own cost; NaN accuracy is never on it."""
    rng = np.random.default_rng(7)
    cost = rng.integers(0, 30, 500).astype(float)  # many equal costs
    acc = np.round(rng.random(500), 1)  # many equal accuracies
    acc[rng.integers(0, 500, 20)] = np.nan
    expected = []
    best_so_far = -np.inf
    for index in np.lexsort((-acc, cost)):
        if acc[index] > best_so_far:
            expected.append(int(index))
            best_so_far = acc[index]
    assert pareto_frontier(cost, acc).tolist() == expected
    assert pareto_frontier([], []).tolist() == []


def test_choose_under_budget_picks_best_affordable_and_breaks_ties_by_cost() -> None:
    scores = CandidateScores.from_lists(cost_usd=[1, 2, 2, 10], accuracy_mean=[0.5, 0.7, 0.7, 0.9])
    assert choose_under_budget(scores, max_usd=5).index == 1
    assert choose_under_budget(scores).index == 3


def test_budget_below_every_candidate_chooses_nothing() -> None:
    scores = CandidateScores.from_lists(cost_usd=[1, 2], accuracy_mean=[0.5, 0.7], gpu_hours=[1, 1])
    assert choose_under_budget(scores, max_usd=0.5) is None
    assert choose_under_budget(scores, max_gpu_hours=0.5) is None
    assert choose_by_weights(scores, accuracy_weight=1, cost_weight=1, max_usd=0.5) is None


def test_empty_candidates_rejected() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        CandidateScores.from_lists(cost_usd=[], accuracy_mean=[])


def test_interval_must_contain_mean() -> None:
    with pytest.raises(InvalidInputError, match="contain its mean"):
        CandidateScores.from_lists(cost_usd=[1], accuracy_mean=[0.5], accuracy_lower=[0.6], accuracy_upper=[0.7])


def _cosmos_rows() -> list[dict[str, str]]:
    if not COSMOS_DIGEST.exists():
        pytest.skip(f"{COSMOS_DIGEST} is missing (shared research digests not beside the checkout)")
    text = COSMOS_DIGEST.read_text()
    block = text.split("```csv\n", 1)[1].split("```", 1)[0]
    return list(csv.DictReader(io.StringIO(block)))


def test_cosmos_bands_and_selections_reproduce_appendix_j() -> None:
    """App. J: 30/18/7 strategies per band; COSMOS picks QLoRA 0.8x4, 1.0x4, 1.0x6 from its predictions,
    and the oracle picks 0.8x4, 0.9x4, 1.0x7 from the actual accuracies."""
    rows = _cosmos_rows()
    assert len(rows) == 55
    labels = {"Low": 0, "Medium": 1, "High": 2}
    published = np.array([labels[r["cost_band"]] for r in rows])
    assert np.bincount(published).tolist() == [30, 18, 7]
    # Uniform thirds of the actual-cost range reproduce the published bands but for one strategy that sits
    # on the medium/high edge ($1.270 against an edge of $1.2703): the paper's banding is not fully specified.
    ours = cost_bands([float(r["act_cost_usd"]) for r in rows])
    mismatched = [rows[i]["act_cost_usd"] for i in np.flatnonzero(ours != published)]
    assert mismatched == ["1.270"]

    def picks(accuracy_key: str, cost_key: str) -> dict[str, str]:
        scores = CandidateScores.from_lists(
            cost_usd=[float(r[cost_key]) for r in rows], accuracy_mean=[float(r[accuracy_key]) for r in rows]
        )
        chosen = {}
        for band, choice in choose_in_bands(scores, bands=published).items():
            row = rows[choice.index]
            chosen[band] = f"{row['strategy']} {float(row['data_portion']):.1f}x{row['iterations']}"
        return chosen

    cosmos = picks("pred_acc", "pred_cost_usd")
    assert (cosmos["medium"], cosmos["high"]) == ("QLoRA 1.0x4", "QLoRA 1.0x6")
    # Low band: 0.7x4 and 0.8x4 both print pred_acc 0.921; at printed precision the cost tie-break takes the
    # cheaper 0.7x4, COSMOS (with unprinted digits) took 0.8x4. Both are the band's top predicted accuracy.
    assert cosmos["low"] in {"QLoRA 0.7x4", "QLoRA 0.8x4"}
    oracle = picks("act_acc", "act_cost_usd")
    assert oracle == {"low": "QLoRA 0.8x4", "medium": "QLoRA 0.9x4", "high": "QLoRA 1.0x7"}


def test_expected_regret_is_zero_without_uncertainty_and_grows_with_it() -> None:
    exact = CandidateScores.from_lists(cost_usd=[1, 1], accuracy_mean=[0.8, 0.7])
    assert expected_regret(exact, choose_under_budget(exact)) == 0.0
    wide = CandidateScores.from_lists(
        cost_usd=[1, 1], accuracy_mean=[0.8, 0.7], accuracy_lower=[0.6, 0.5], accuracy_upper=[1.0, 0.9]
    )
    regret = expected_regret(wide, choose_under_budget(wide))
    # A_other - A_chosen ~ N(-0.1, 2 sigma^2), sigma = 0.2/1.645; E[max(X,0)] closed form
    from scipy.stats import norm

    s = np.sqrt(2) * 0.2 / 1.6448536269514722
    exact_value = s * norm.pdf(0.1 / s) - 0.1 * norm.sf(0.1 / s)
    assert regret == pytest.approx(exact_value, abs=0.004)


def test_probe_value_ranks_the_uncertain_close_competitor_first() -> None:
    scores = CandidateScores.from_lists(
        cost_usd=[1, 1, 1],
        accuracy_mean=[0.80, 0.78, 0.50],
        accuracy_lower=[0.79, 0.60, 0.49],
        accuracy_upper=[0.81, 0.96, 0.51],
    )
    choice = choose_under_budget(scores)
    ranked = probe_value(scores, choice)
    assert choice.index == 0
    assert ranked[0][0] == 1 and 0.3 < ranked[0][1] < 0.6
    assert all(index != 2 for index, _, _ in ranked)


def test_choose_by_weights_trades_cost_for_accuracy() -> None:
    scores = CandidateScores.from_lists(cost_usd=[1, 10], accuracy_mean=[0.7, 0.75])
    assert choose_by_weights(scores, accuracy_weight=1, cost_weight=0).index == 1
    assert choose_by_weights(scores, accuracy_weight=1, cost_weight=1).index == 0


def test_candidates_of_one_outcome_group_share_their_draws() -> None:
    """The same forecast on two GPUs is one unknown accuracy: learning the twin's is worth nothing, and
    choosing between twins carries no regret; as independent candidates both would look valuable."""
    from predictors.planner import expected_regret, probe_value

    kwargs = {
        "cost_usd": [1.0, 2.0, 1.5],
        "accuracy_mean": [0.70, 0.70, 0.65],
        "accuracy_lower": [0.60, 0.60, 0.50],
        "accuracy_upper": [0.80, 0.80, 0.80],
    }
    independent = CandidateScores.from_lists(**kwargs)
    grouped = CandidateScores.from_lists(**kwargs, outcome_group=[0, 0, 1])
    choice = choose_under_budget(grouped)
    assert choice.index == 0
    assert {index for index, _, _ in probe_value(grouped, choice)} == {2}
    assert {index for index, _, _ in probe_value(independent, choice)} == {1, 2}
    twins = CandidateScores.from_lists(
        cost_usd=[1.0, 2.0],
        accuracy_mean=[0.7, 0.7],
        accuracy_lower=[0.6, 0.6],
        accuracy_upper=[0.8, 0.8],
        outcome_group=[3, 3],
    )
    assert expected_regret(twins, choose_under_budget(twins)) == 0.0
    assert expected_regret(grouped, choice) < expected_regret(independent, choice)


def test_outcome_group_needs_one_id_per_candidate() -> None:
    with pytest.raises(InvalidInputError) as error:
        CandidateScores.from_lists(cost_usd=[1.0, 2.0], accuracy_mean=[0.5, 0.6], outcome_group=[0])
    assert error.value.field == "candidates.outcome_group"


def test_budget_picks_are_the_budget_rule_under_every_dollar_budget() -> None:
    from predictors.planner import Budget, best_within, budget_picks

    rng = np.random.default_rng(12)
    cost = rng.integers(1, 40, 400).astype(float)  # many equal costs
    scores = CandidateScores.from_lists(
        cost_usd=cost, accuracy_mean=np.round(rng.random(400), 1), gpu_hours=rng.uniform(0, 5, 400)
    )
    for max_gpu_hours in (None, 2.5):
        steps = budget_picks(scores, max_gpu_hours=max_gpu_hours)
        for budget_usd in np.arange(0.0, 42.0, 0.5):
            expected = best_within(scores, Budget(budget_usd, max_gpu_hours).admits(cost, scores.gpu_hours))
            shown = [s.index for s in steps if s.from_usd <= budget_usd]
            assert (shown[-1] if shown else None) == expected


def test_probability_best_is_near_one_for_a_clear_lead_and_near_half_for_a_coin_toss() -> None:
    from predictors.planner import probability_best

    apart = CandidateScores.from_lists(
        cost_usd=[1, 1], accuracy_mean=[0.8, 0.5], accuracy_lower=[0.75, 0.45], accuracy_upper=[0.85, 0.55]
    )
    assert probability_best(apart, choose_under_budget(apart)) > 0.999
    even = CandidateScores.from_lists(
        cost_usd=[1, 2], accuracy_mean=[0.7, 0.7], accuracy_lower=[0.6, 0.6], accuracy_upper=[0.8, 0.8]
    )
    choice = choose_under_budget(even)
    assert probability_best(even, choice) == pytest.approx(0.5, abs=0.04)
    assert probability_best(even, choice) == probability_best(even, choice)  # fixed seed: one answer per plan
    three = CandidateScores.from_lists(
        cost_usd=[1, 1, 1], accuracy_mean=[0.7] * 3, accuracy_lower=[0.6] * 3, accuracy_upper=[0.8] * 3
    )
    assert probability_best(three, choose_under_budget(three)) == pytest.approx(1 / 3, abs=0.04)


def test_probability_best_is_one_without_uncertainty_or_rivals_and_shared_by_twins() -> None:
    from predictors.planner import probability_best

    exact = CandidateScores.from_lists(cost_usd=[1, 1], accuracy_mean=[0.8, 0.7])
    assert probability_best(exact, choose_under_budget(exact)) == 1.0
    twins = CandidateScores.from_lists(
        cost_usd=[1, 2],
        accuracy_mean=[0.7, 0.7],
        accuracy_lower=[0.6, 0.6],
        accuracy_upper=[0.8, 0.8],
        outcome_group=[0, 0],
    )
    assert probability_best(twins, choose_under_budget(twins)) == 1.0  # one accuracy: neither beats the other
    wide = CandidateScores.from_lists(
        cost_usd=[1, 1], accuracy_mean=[0.8, 0.7], accuracy_lower=[0.6, 0.5], accuracy_upper=[1.0, 0.9]
    )
    beats = probe_value(wide, choose_under_budget(wide))[0][1]
    assert probability_best(wide, choose_under_budget(wide)) == pytest.approx(1 - beats)  # the same draws


@pytest.mark.parametrize(("seed", "one_forecast_per_group"), [(7, True), (8, True), (9, False), (10, False)])
def test_budget_picks_carry_the_runner_up_the_rule_gives_over_the_other_strategies(
    seed: int, one_forecast_per_group: bool
) -> None:
    """What the plan page shows as the pick's margin: under every budget, the budget rule over the candidates
    outside the pick's outcome group (the same strategy on other hardware is the pick)."""
    from predictors.planner import Budget, best_within, budget_picks

    rng = np.random.default_rng(seed)
    n = 300
    cost = rng.integers(1, 30, n).astype(float)  # many equal costs
    groups = rng.integers(0, 60 if one_forecast_per_group else 8, n)
    accuracy = np.round(rng.random(60), 1)[groups] if one_forecast_per_group else np.round(rng.random(n), 1)
    scores = CandidateScores.from_lists(
        cost_usd=cost, accuracy_mean=accuracy, gpu_hours=rng.uniform(0, 5, n), outcome_group=groups
    )
    for max_gpu_hours in (None, 2.5):
        steps = budget_picks(scores, max_gpu_hours=max_gpu_hours)
        for budget_usd in np.arange(0.0, 32.0, 0.5):
            admitted = Budget(budget_usd, max_gpu_hours).admits(cost, scores.gpu_hours)
            pick = best_within(scores, admitted)
            step = ([s for s in steps if s.from_usd <= budget_usd] or [None])[-1]
            assert (step.index if step else None) == pick
            if step is None or pick is None:
                continue
            expected = best_within(scores, admitted & (groups != groups[pick]))
            shown = [r.index for r in step.runners_up if r.from_usd <= budget_usd]
            assert (shown[-1] if shown else None) == expected, budget_usd


def test_budget_picks_are_empty_when_no_candidate_is_within_the_gpu_hours() -> None:
    from predictors.planner import budget_picks

    scores = CandidateScores.from_lists(cost_usd=[1.0, 2.0], accuracy_mean=[0.5, 0.6], gpu_hours=[3.0, 4.0])
    assert budget_picks(scores, max_gpu_hours=1.0) == []


def test_the_runner_up_is_carried_when_two_picks_in_a_row_are_one_strategy() -> None:
    """Group 0 is the pick at $1 (0.5) and again at $2 (0.7, say a larger data size of one forecast group); group
    1 (0.4 at $1.5) is the runner-up from $1.5 on, through both steps."""
    from predictors.planner import RunnerUp, budget_picks

    scores = CandidateScores.from_lists(
        cost_usd=[1.0, 2.0, 1.5], accuracy_mean=[0.5, 0.7, 0.4], outcome_group=[0, 0, 1]
    )
    first, second = budget_picks(scores)
    assert (first.index, first.runners_up) == (0, (RunnerUp(1.5, 2),))
    assert (second.index, second.runners_up) == (1, (RunnerUp(2.0, 2),))
