"""Planning as a pure function: the pick, the budget staircase, listing, probes and the prediction cost,
over a real cost table (catalog models and GPUs) and hand-made forecasts, with no database."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from predictors.accuracy.features import Observation, make_observation
from predictors.accuracy.tiers import Accuracy
from predictors.architecture import architecture_from_hf_config
from predictors.cost import EvaluationConfig, HardwareRequest, TrainingConfig, hardware_spec_from_catalog
from predictors.cost.columns import CostColumns, estimate_cost_columns
from predictors.cost.table import CandidateTable
from predictors.methods import parse_method
from predictors.planner import Budget, best_within
from predictors.planning import (
    FULL_LISTING_LIMIT,
    ICL_PROBE_SHOTS,
    PROBE_FINETUNE_DATA_FRACTION,
    TOP_ROWS_WHEN_LARGE,
    Forecasts,
    Objective,
    TaskFacts,
    forecast_candidates,
    next_data_fraction,
    plan_candidates,
    prediction_cost_usd,
    runs_a_probe_adds_to,
    suggested_probe,
)
from storage.catalogs import load_hardware_catalog, load_models_catalog

MODELS = ("qwen2.5-0.5b", "llama-3.1-8b")
METHODS = ({"name": "lora"}, {"name": "zero_shot"}, {"name": "icl", "shots": 4})
GPUS = ("H100-SXM", "L4")


def cost_columns(n_trainings: int = 2) -> CostColumns:
    """Every catalog model of :data:`MODELS` × :data:`METHODS` × :data:`GPUS` × ``n_trainings`` data sizes."""
    catalog = {entry["id"]: entry for entry in load_models_catalog()}
    table = CandidateTable.grid(
        models=[(m, architecture_from_hf_config(catalog[m]["architecture"])) for m in MODELS],
        methods=[parse_method(m) for m in METHODS],
        trainings=[TrainingConfig(train_examples=1000 * (k + 1), seq_len=256) for k in range(n_trainings)],
        hardware=[HardwareRequest(gpu=g) for g in GPUS],
        evaluation=EvaluationConfig(),
    )
    hardware = {row["id"]: hardware_spec_from_catalog(row) for row in load_hardware_catalog() if row["id"] in GPUS}
    return estimate_cost_columns(table, hardware=hardware)


def forecasts_of(means: np.ndarray, half_width: float = 0.05) -> Forecasts:
    """One forecast per candidate (each its own question), ``mean ± half_width``."""
    accuracies = [
        Accuracy(float(m), float(m) - half_width, float(m) + half_width, "prior", "test") for m in means.tolist()
    ]
    observations = [
        make_observation(model_id=f"m{i}", method={"name": "zero_shot"}, task="t") for i in range(len(means))
    ]
    return Forecasts(accuracies, observations, np.arange(len(means), dtype=np.intp))


def test_the_pick_is_the_budget_rule_over_the_candidates_that_fit() -> None:
    costs = cost_columns()
    means = np.random.default_rng(3).uniform(0.3, 0.9, len(costs))
    fits = costs["fits"].astype(bool)
    budget_usd = float(np.median(costs["total_usd"][fits]))
    plan = plan_candidates(
        costs, forecasts_of(means), budget=Budget(max_usd=budget_usd), objective=Objective(), interval_level=0.9
    )
    admitted = fits & (costs["total_usd"] <= budget_usd)
    best = max(np.flatnonzero(admitted), key=lambda i: (means[i], -costs["total_usd"][i]))
    assert plan.recommended == best and plan.reason == "highest predicted accuracy within the budget"
    assert plan.fitting.tolist() == np.flatnonzero(fits).tolist()
    assert plan.exhaustive_cost_usd == pytest.approx(costs["total_usd"][fits].sum())
    assert set(plan.frontier) <= set(plan.fitting.tolist()) and plan.recommended in plan.listed
    assert plan.listed == list(range(len(costs)))  # a small plan lists every candidate
    assert plan.probability_best is not None and 0 < plan.probability_best <= 1


def test_budget_picks_give_the_rule_s_pick_under_every_budget() -> None:
    costs = cost_columns()
    means = np.round(np.random.default_rng(5).uniform(0.3, 0.9, len(costs)), 1)  # ties in accuracy
    plan = plan_candidates(costs, forecasts_of(means), budget=Budget(), objective=Objective(), interval_level=0.9)
    steps = plan.budget_picks
    assert [s.from_usd for s in steps] == sorted(s.from_usd for s in steps)
    fitting_costs = plan.scores.cost_usd
    for budget_usd in [*fitting_costs.tolist(), *(fitting_costs * 1.001).tolist(), float(fitting_costs.min()) / 2]:
        expected = best_within(plan.scores, fitting_costs <= budget_usd)
        shown = [s.index for s in steps if s.from_usd <= budget_usd]
        assert (shown[-1] if shown else None) == (None if expected is None else int(plan.fitting[expected]))


def test_budget_picks_respect_the_gpu_hour_limit() -> None:
    costs = cost_columns()
    means = np.random.default_rng(8).uniform(0.3, 0.9, len(costs))
    hours = costs["train_gpu_hours"] + costs["eval_gpu_hours"]
    limit = float(np.median(hours[costs["fits"].astype(bool)]))
    plan = plan_candidates(
        costs, forecasts_of(means), budget=Budget(max_gpu_hours=limit), objective=Objective(), interval_level=0.9
    )
    assert plan.budget_picks and all(hours[s.index] <= limit for s in plan.budget_picks)
    assert plan.budget_picks[-1].index == plan.recommended  # no dollar limit: the top step is the pick


@pytest.mark.parametrize("objective", [Objective(), Objective("bands"), Objective("weights", 1.0, 1.0)])
def test_a_budget_below_every_fitting_candidate_plans_without_a_pick(objective: Objective) -> None:
    costs = cost_columns()
    means = np.random.default_rng(4).uniform(0.3, 0.9, len(costs))
    fits = costs["fits"].astype(bool)
    cheapest_usd = float(costs["total_usd"][fits].min())
    budget = Budget(max_usd=cheapest_usd / 2)
    plan = plan_candidates(costs, forecasts_of(means), budget=budget, objective=objective, interval_level=0.9)
    unlimited = plan_candidates(costs, forecasts_of(means), budget=Budget(), objective=objective, interval_level=0.9)
    assert plan.recommended is None and plan.expected_regret is None and plan.probability_best is None
    assert plan.probes == []
    assert plan.bands == unlimited.bands and plan.frontier == unlimited.frontier
    assert plan.infeasible is not None and plan.infeasible.field == "budget.max_usd"
    assert plan.infeasible.cheapest_fitting_usd == cheapest_usd
    assert plan.infeasible.detail == (
        f"nothing fits under ${cheapest_usd / 2:.4g}; the cheapest that fits costs ${cheapest_usd:.4g}"
    )
    assert unlimited.infeasible is None and unlimited.recommended is not None


def test_a_gpu_hour_limit_below_every_candidate_names_that_limit() -> None:
    costs = cost_columns()
    plan = plan_candidates(
        costs,
        forecasts_of(np.full(len(costs), 0.5)),
        budget=Budget(max_usd=1e9, max_gpu_hours=1e-12),
        objective=Objective(),
        interval_level=0.9,
    )
    assert plan.recommended is None and plan.infeasible is not None
    assert plan.infeasible.field == "budget.max_gpu_hours" and "GPU-hours" in plan.infeasible.detail


def test_nothing_fitting_its_hardware_plans_without_a_pick_naming_the_smallest() -> None:
    costs = cost_columns()
    nothing_fits = CostColumns(
        costs.table, {**costs.values, "fits": np.zeros(len(costs))}, costs.hardware, costs.calibration
    )
    plan = plan_candidates(
        nothing_fits,
        forecasts_of(np.full(len(costs), 0.5)),
        budget=Budget(max_usd=5.0),
        objective=Objective(),
        interval_level=0.9,
        field="grid.candidates",
    )
    assert plan.recommended is None and plan.probes == [] and plan.bands == {} and plan.frontier == []
    assert plan.fitting.size == 0 and plan.listed == list(range(len(costs)))
    smallest = int(np.argmin(costs["peak_memory_bytes"]))
    nothing = plan.infeasible
    assert nothing is not None and nothing.field == "grid.candidates" and nothing.cheapest_fitting_usd is None
    assert nothing.detail.startswith("nothing fits under $5: no candidate fits its hardware's memory")
    assert costs.table.model_ids[int(costs.table.model[smallest])] in nothing.detail


def test_a_large_plan_lists_frontier_picks_probes_and_the_most_accurate() -> None:
    costs = cost_columns(n_trainings=200)
    assert len(costs) > FULL_LISTING_LIMIT
    means = np.random.default_rng(11).uniform(0.3, 0.9, len(costs))
    plan = plan_candidates(costs, forecasts_of(means), budget=Budget(), objective=Objective(), interval_level=0.9)
    listed = set(plan.listed)
    assert {*plan.frontier, plan.recommended, *plan.bands.values(), *(p.index for p in plan.probes)} <= listed
    top = plan.fitting[np.argsort(-means[plan.fitting], kind="stable")[:TOP_ROWS_WHEN_LARGE]]
    assert set(top.tolist()) <= listed and len(listed) < len(costs)


def test_bands_without_a_budget_takes_the_most_accurate_band_pick() -> None:
    costs = cost_columns()
    means = np.random.default_rng(2).uniform(0.3, 0.9, len(costs))
    plan = plan_candidates(
        costs, forecasts_of(means), budget=Budget(), objective=Objective("bands"), interval_level=0.9
    )
    assert plan.recommended == max(plan.bands.values(), key=lambda i: (means[i], -costs["total_usd"][i]))


def test_probes_are_priced_from_the_candidate_s_costs() -> None:
    icl = suggested_probe("icl", train_usd=5.0, eval_usd=0.25)
    assert icl.kind == "icl_probe" and icl.estimated_usd == len(ICL_PROBE_SHOTS) * 0.25
    assert icl.as_dict()["shots"] == list(ICL_PROBE_SHOTS)
    lora = suggested_probe("lora", train_usd=5.0, eval_usd=0.25)
    assert lora.kind == "finetune" and lora.estimated_usd == PROBE_FINETUNE_DATA_FRACTION * 5.0 + 0.25
    costs = cost_columns()
    means = np.full(len(costs), 0.6)
    means[::5] += 0.01  # a few close competitors: worth probing
    plan = plan_candidates(costs, forecasts_of(means), budget=Budget(), objective=Objective(), interval_level=0.9)
    assert plan.probes
    for probe in plan.probes:
        method = costs.table.methods[int(costs.table.method[probe.index])].name
        expected = suggested_probe(
            method, train_usd=float(costs["train_usd"][probe.index]), eval_usd=float(costs["eval_usd"][probe.index])
        )
        assert probe.probe == expected and probe.index != plan.recommended


def test_no_probe_is_suggested_for_a_candidate_already_run() -> None:
    """A measured candidate keeps its test set's sampling error as its interval, so it may be uncertain
    enough to sway the pick; a smaller run of it could not say more than its own measurement."""
    costs = cost_columns()
    means = np.full(len(costs), 0.6)
    means[::5] += 0.01
    plan = plan_candidates(costs, forecasts_of(means), budget=Budget(), objective=Objective(), interval_level=0.9)
    probed = plan.probes[0].index
    forecasts = forecasts_of(means)
    forecasts.accuracies[probed] = dataclasses.replace(forecasts.accuracies[probed], tier="measured")
    again = plan_candidates(costs, forecasts, budget=Budget(), objective=Objective(), interval_level=0.9)
    assert again.probes and probed not in {p.index for p in again.probes}
    assert len(again.probes) == len(plan.probes)  # the next candidate worth probing takes its place


def test_prediction_cost_counts_what_was_spent_on_informed_models_only() -> None:
    informed = Accuracy(0.7, 0.6, 0.8, "measured", "run")
    prior = Accuracy(0.5, 0.3, 0.7, "prior", "prior")
    observations = [make_observation(model_id=m, method={"name": "zero_shot"}, task="t") for m in ("a", "b")]
    forecasts = Forecasts([informed, prior], observations, np.array([0, 1, 1], dtype=np.intp))
    assert prediction_cost_usd(forecasts, [("a", 2.0), ("a", None), ("b", 5.0), ("c", 7.0)]) == 2.0
    assert forecasts.tier_counts() == {"prior": 2, "measured": 1}


def test_candidates_differing_only_in_hardware_share_one_forecast() -> None:
    costs = cost_columns()
    forecasts = forecast_candidates(costs, TaskFacts("mmlu", n_choices=4), measurements=[], prior=None, level=0.9)
    t = costs.table
    parts = {(int(t.model[i]), int(t.method[i]), int(t.training[i])): [] for i in range(len(costs))}
    for i in range(len(costs)):
        parts[(int(t.model[i]), int(t.method[i]), int(t.training[i]))].append(int(forecasts.of_candidate[i]))
    assert all(len(set(shared)) == 1 for shared in parts.values())  # the GPU never changes a forecast
    # methods that do not train ask one question whatever the data size
    no_training = [i for i in range(len(costs)) if t.methods[int(t.method[i])].name != "lora"]
    assert len({(int(t.model[i]), int(t.method[i]), int(forecasts.of_candidate[i])) for i in no_training}) == len(
        MODELS
    ) * (len(METHODS) - 1)


def test_forecasts_take_the_conformal_calibration_they_are_given() -> None:
    """Probe pairs that missed by three half-widths widen the probe tier's intervals threefold (the shot law
    through 0/1/8-shot probes); a calibration without pairs leaves every forecast as it was."""
    from predictors.accuracy.conformal import ConformalIntervals

    costs = cost_columns()
    probes = [
        make_observation(
            model_id="qwen2.5-0.5b", method=method, task="mmlu", accuracy=accuracy, source="test", eval_examples=1000
        )
        for method, accuracy in (
            ({"name": "zero_shot"}, 0.4),
            ({"name": "icl", "shots": 1}, 0.45),
            ({"name": "icl", "shots": 8}, 0.5),
        )
    ]
    task = TaskFacts("mmlu", n_choices=4)
    raw = forecast_candidates(costs, task, measurements=probes, prior=None, level=0.9)
    unpaired = forecast_candidates(
        costs, task, measurements=probes, prior=None, level=0.9, conformal=ConformalIntervals().fit([], [], [], [], [])
    )
    assert unpaired.accuracies == raw.accuracies
    mean = np.linspace(0.3, 0.7, 12)
    missed = ConformalIntervals().fit(mean, mean - 0.01, mean + 0.01, mean + 0.03, ["probe"] * 12)
    calibrated = forecast_candidates(costs, task, measurements=probes, prior=None, level=0.9, conformal=missed)
    pairs = list(zip(calibrated.accuracies, raw.accuracies, strict=True))
    assert any(r.tier == "probe" for _, r in pairs)
    for c, r in pairs:
        if r.tier != "probe":
            assert c == r
            continue
        half_width = 3 * (r.upper - r.lower) / 2
        assert c.predictor == f"{r.predictor}, conformal" and c.mean == r.mean
        assert c.lower == pytest.approx(max(r.mean - half_width, 0.0)) and c.upper == pytest.approx(r.mean + half_width)


def test_the_next_fine_tune_probe_adds_a_data_size_the_runs_lack() -> None:
    """COSMOS's 10 % probe while the model and method have no smaller run on the task; then the geometric
    mean of the largest smaller run and the candidate (a second size gives the data law its slope)."""
    assert next_data_fraction(10_000, []) == PROBE_FINETUNE_DATA_FRACTION
    assert next_data_fraction(10_000, [1_000]) == pytest.approx(math.sqrt(0.1), abs=1e-3)
    assert next_data_fraction(10_000, [1_000, 4_000, None]) == pytest.approx(math.sqrt(0.4), abs=1e-3)
    assert next_data_fraction(10_000, [10_000, 20_000]) == PROBE_FINETUNE_DATA_FRACTION  # none smaller
    assert next_data_fraction(10_000, [10]) == PROBE_FINETUNE_DATA_FRACTION  # never below COSMOS's probe
    assert next_data_fraction(None, [1_000]) == PROBE_FINETUNE_DATA_FRACTION


def test_the_next_icl_probe_runs_the_shots_not_yet_evaluated() -> None:
    def run(shots: int) -> Observation:
        method = {"name": "zero_shot"} if shots == 0 else {"name": "icl", "shots": shots}
        return make_observation(model_id="m", method=method, task="t", accuracy=0.5)

    candidate = make_observation(model_id="m", method={"name": "icl", "shots": 4}, task="t")
    other_model = make_observation(model_id="n", method={"name": "icl", "shots": 1}, task="t", accuracy=0.5)
    assert runs_a_probe_adds_to(candidate, [run(0), run(1), other_model]) == (run(0), run(1))  # zero-shot is 0 shots
    partial = suggested_probe("icl", train_usd=0.0, eval_usd=0.25, candidate=candidate, measured=[run(0)])
    assert partial.shots == tuple(n for n in ICL_PROBE_SHOTS if n != 0) and partial.estimated_usd == 0.5
    done = [run(n) for n in ICL_PROBE_SHOTS]
    own = suggested_probe("icl", train_usd=0.0, eval_usd=0.25, candidate=candidate, measured=done)
    assert own.shots == (4,) and own.estimated_usd == 0.25


def test_a_plan_s_fine_tune_probes_follow_the_task_s_runs() -> None:
    """A LoRA run of llama-3.1-8b on 100 examples: that model's LoRA candidates are probed at √(100 / their
    examples) of their data, priced at that fraction; the other model's at COSMOS's 10 %."""
    costs = cost_columns()
    run = make_observation(
        model_id="llama-3.1-8b", method={"name": "lora"}, task="t", training={"train_examples": 100}, accuracy=0.6
    )
    forecasts = forecast_candidates(costs, TaskFacts("t"), measurements=[run], prior=None, level=0.9)
    t = costs.table
    lora = np.array([t.methods[int(m)].name == "lora" for m in t.method])
    llama = np.array([t.model_ids[int(m)] == "llama-3.1-8b" for m in t.model])
    assert all(forecasts.measured_like(i) == ((run,) if lora[i] and llama[i] else ()) for i in range(len(costs)))
    means = np.where(lora, 0.61, 0.4)  # only the LoRA candidates compete for the pick: the ones worth probing
    close = Forecasts(
        [Accuracy(float(m), float(m) - 0.05, float(m) + 0.05, "prior", "test") for m in means],
        [forecasts.observations[int(q)] for q in forecasts.of_candidate],
        np.arange(len(costs), dtype=np.intp),
        forecasts.measured,
    )
    plan = plan_candidates(costs, close, budget=Budget(), objective=Objective(), interval_level=0.9)
    assert {bool(llama[p.index]) for p in plan.probes} == {True, False}
    for p in plan.probes:
        examples = t.trainings[int(t.training[p.index])].train_examples
        fraction = round(math.sqrt(100 / examples), 3) if llama[p.index] else PROBE_FINETUNE_DATA_FRACTION
        assert p.probe.data_fraction == fraction
        assert p.probe.estimated_usd == pytest.approx(
            fraction * costs["train_usd"][p.index] + costs["eval_usd"][p.index]
        )
