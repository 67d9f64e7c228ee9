"""Planning as a pure function: from every candidate's cost and forecast to what the plan decides.

The plans service loads the inputs (catalogs, measurements, the prior), calls :func:`forecast_candidates`
and :func:`plan_candidates`, then stores and formats the :class:`PlanResult`; nothing here reads storage
or knows HTTP, so a plan is a function of its inputs and is tested without a database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from predictors.accuracy.conformal import ConformalIntervals
from predictors.accuracy.features import ZERO_SHOT_METHODS, Observation, make_observation, observed_shots
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import INFERENCE_METHODS, Accuracy, Tier, predict_accuracies
from predictors.cost import cost_reduction_ratio
from predictors.cost.columns import CostColumns
from predictors.methods import METHODS
from predictors.planner import (
    Budget,
    BudgetPick,
    CandidateScores,
    Choice,
    RunnerUp,
    budget_picks,
    choose_by_weights,
    choose_in_bands,
    choose_under_budget,
    expected_regret,
    pareto_frontier,
    probability_best,
    probe_value,
)

__all__ = [
    "FULL_LISTING_LIMIT",
    "ICL_PROBE_SHOTS",
    "PROBE_FINETUNE_DATA_FRACTION",
    "TOP_ROWS_WHEN_LARGE",
    "Forecasts",
    "NothingFits",
    "Objective",
    "PlanResult",
    "ProbeToBuy",
    "SuggestedProbe",
    "TaskFacts",
    "choose",
    "forecast_candidates",
    "next_data_fraction",
    "nothing_fits_hardware",
    "nothing_within_budget",
    "plan_candidates",
    "prediction_cost_usd",
    "runs_a_probe_adds_to",
    "suggested_probe",
]

FULL_LISTING_LIMIT = 2000
"""Plans of at most this many candidates list every row; larger ones list what a reader acts on."""
TOP_ROWS_WHEN_LARGE = 500
"""A large plan lists its most accurate candidates up to this many (beside frontier, picks and probes)."""
ICL_PROBE_SHOTS: tuple[int, ...] = (0, 1, 8)
"""The few-shot evaluations an ICL probe runs: COSMOS fits its shot law from 0-, 1- and 8-shot accuracy
(Wang et al. 2025, arXiv:2505.01449, Eq. 5), so the probe costs one evaluation per shot count."""
PROBE_FINETUNE_DATA_FRACTION = 0.1
"""A fine-tune probe trains on this fraction of the data: enough to anchor the fine-tuning data law and
to calibrate the linear-probe proxy, at a tenth of the training cost (plus one evaluation)."""


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the accuracy predictors read of the plan's task."""

    name: str
    kind: str = "multiple_choice"
    n_choices: int | None = None
    train_examples: int | None = None


@dataclass(frozen=True, slots=True)
class Objective:
    """How to choose: the best within the budget, the best COSMOS band pick, or user weights."""

    kind: Literal["max_accuracy", "bands", "weights"] = "max_accuracy"
    accuracy_weight: float = 1.0
    cost_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class Forecasts:
    """One forecast per distinct (model, method, the training settings accuracy depends on), and which of
    them each candidate has: a 100,000-candidate grid asks the predictors a few hundred questions."""

    accuracies: list[Accuracy]
    observations: list[Observation]
    of_candidate: NDArray[np.intp]
    measured: tuple[Observation, ...] = ()
    """The task's measured runs: what a candidate's next probe adds to (:func:`runs_a_probe_adds_to`)."""

    def measured_like(self, i: int) -> tuple[Observation, ...]:
        """The task's measured runs that a probe of candidate ``i`` adds to."""
        return runs_a_probe_adds_to(self.observations[int(self.of_candidate[i])], self.measured)

    def column(self, name: str) -> NDArray[np.float64]:
        """An :class:`Accuracy` field (``mean``, ``lower``, ``upper``) for every candidate."""
        return np.asarray([getattr(a, name) for a in self.accuracies], dtype=float)[self.of_candidate]

    def of(self, i: int) -> Accuracy:
        """Candidate ``i``'s forecast."""
        return self.accuracies[int(self.of_candidate[i])]

    def outcome_groups(self) -> NDArray[np.intp]:
        """Candidates with equal observation keys share one true accuracy (they differ only in hardware or
        shape): one group each, for the planner's Monte-Carlo."""
        ids: dict[tuple[Any, ...], int] = {}
        groups = np.asarray([ids.setdefault(o.key(), len(ids)) for o in self.observations], dtype=np.intp)
        return groups[self.of_candidate]

    def tier_counts(self) -> dict[str, int]:
        """How many candidates each tier forecast (tiers with none left out), weakest evidence first."""
        codes = {name: code for code, name in enumerate(get_args(Tier))}
        per_question = np.asarray([codes[a.tier] for a in self.accuracies], dtype=np.intp)
        counts = np.bincount(per_question[self.of_candidate], minlength=len(codes))
        return {name: int(counts[code]) for name, code in codes.items() if counts[code]}

    def informed_models(self) -> set[str]:
        """Models some forecast of which rests on evidence bought for this task (a probe or a run)."""
        return {
            o.model_id
            for o, a in zip(self.observations, self.accuracies, strict=True)
            if a.tier in {"probe", "measured"}
        }


def _question_of_candidate(costs: CostColumns) -> NDArray[np.intp]:
    """A code per candidate equal for candidates that ask the predictors the same question: same model
    and method, and for methods that train, the same data size, epochs, data fraction and optimizer batch
    (micro-batch and accumulation set the optimizer steps, :mod:`predictors.accuracy.phase`)."""
    t = costs.table
    accuracy_training: dict[tuple[Any, ...], int] = {}
    training_key = np.asarray(
        [
            accuracy_training.setdefault(
                (c.train_examples, c.epochs, c.data_fraction, c.micro_batch_size, c.gradient_accumulation_steps),
                len(accuracy_training),
            )
            for c in t.trainings
        ],
        dtype=np.intp,
    )
    trains = np.asarray([METHODS[m.name].kind == "finetune" for m in t.methods], dtype=bool)
    question = (t.model * len(t.methods) + t.method) * max(len(accuracy_training), 1)
    return np.asarray(question + np.where(trains[t.method], training_key[t.training], 0), dtype=np.intp)


def forecast_candidates(
    costs: CostColumns,
    task: TaskFacts,
    *,
    measurements: Sequence[Observation],
    prior: PriorPredictor | None,
    level: float,
    conformal: ConformalIntervals | None = None,
) -> Forecasts:
    """The best forecast of every candidate of ``costs.table`` (:func:`predict_accuracies`), asked once per
    distinct question; with ``conformal`` (the prior's), prior and probe intervals recalibrated to ``level``."""
    t = costs.table
    _, first, of_candidate = np.unique(_question_of_candidate(costs), return_index=True, return_inverse=True)
    method_json = [m.model_dump(mode="json") for m in t.methods]
    observations = [
        make_observation(
            model_id=t.model_ids[int(t.model[i])],
            method=method_json[int(t.method[i])],
            task=task.name,
            task_kind=task.kind,
            n_choices=task.n_choices,
            training=t.trainings[int(t.training[i])].model_dump(),
            task_train_examples=task.train_examples,
        )
        for i in first
    ]
    accuracies = predict_accuracies(
        observations, measurements=measurements, prior=prior, level=level, conformal=conformal
    )
    measured = tuple(m for m in measurements if m.task == task.name and m.accuracy is not None)
    return Forecasts(accuracies, observations, of_candidate.astype(np.intp).reshape(-1), measured)


@dataclass(frozen=True, slots=True)
class SuggestedProbe:
    """The cheapest run that would sharpen a candidate's forecast, and what it costs."""

    kind: Literal["icl_probe", "finetune"]
    estimated_usd: float
    why: str
    shots: tuple[int, ...] | None = None
    data_fraction: float | None = None

    def as_dict(self) -> dict[str, Any]:
        detail = {"shots": list(self.shots)} if self.shots is not None else {"data_fraction": self.data_fraction}
        return {"kind": self.kind, **detail, "estimated_usd": self.estimated_usd, "why": self.why}


def runs_a_probe_adds_to(candidate: Observation, runs: Iterable[Observation]) -> tuple[Observation, ...]:
    """The runs of ``candidate``'s model and method among ``runs`` (of its task); for a method that does
    not train, its zero-shot runs too: the shot curve's 0-shot point, as
    :meth:`predictors.accuracy.tiers.MeasurementIndex.icl_probe` reads them."""
    name = candidate.method.get("name")
    family = {*ZERO_SHOT_METHODS, name} if name in INFERENCE_METHODS else {name}
    return tuple(m for m in runs if m.model_id == candidate.model_id and m.method.get("name") in family)


def next_data_fraction(candidate_examples: int | None, measured_examples: Iterable[int | None]) -> float:
    """The data fraction (of the candidate's) of the next fine-tune probe: :data:`PROBE_FINETUNE_DATA_FRACTION`
    while the candidate's model and method have no smaller run on the task; then the geometric mean of the
    largest smaller run's size and the candidate's. A run at a size already measured adds no slope to the
    data law, and a two-point power law's error grows with how far it extrapolates past its larger point
    (x_target / x_probe), so the second point goes where the law interpolates over as many log-examples
    as it then extrapolates (√(x_measured · x_candidate))."""
    if not candidate_examples:
        return PROBE_FINETUNE_DATA_FRACTION
    smaller = [n for n in measured_examples if n and n < candidate_examples]
    if not smaller:
        return PROBE_FINETUNE_DATA_FRACTION
    return max(PROBE_FINETUNE_DATA_FRACTION, round(math.sqrt(max(smaller) / candidate_examples), 3))


def suggested_probe(
    method_name: str,
    *,
    train_usd: float,
    eval_usd: float,
    candidate: Observation | None = None,
    measured: Sequence[Observation] = (),
) -> SuggestedProbe:
    """The next probe for ``candidate``, given the task's ``measured`` runs of its model and method: the
    COSMOS few-shot evaluations (:data:`ICL_PROBE_SHOTS`) not yet run, or the candidate's own shot count
    once they all are, for a method that does not train; a short fine-tune (:func:`next_data_fraction`)
    for one that does."""
    if METHODS[method_name].kind != "finetune":
        done = {observed_shots(m) for m in measured}
        shots = tuple(n for n in ICL_PROBE_SHOTS if n not in done)
        own = observed_shots(candidate) if candidate is not None else None
        if not shots and own is not None:
            return SuggestedProbe(
                kind="icl_probe",
                shots=(own,),
                estimated_usd=eval_usd,
                why=f"the shot law's probes are run: evaluating {own} shots measures the candidate itself",
            )
        shots = shots or ICL_PROBE_SHOTS
        return SuggestedProbe(
            kind="icl_probe",
            shots=shots,
            estimated_usd=len(shots) * eval_usd,
            why="few-shot probes fit the ICL shot law (COSMOS Eq. 5)",
        )
    examples = candidate.train_examples if candidate is not None else None
    fraction = next_data_fraction(examples, (m.train_examples for m in measured))
    why = (
        "a 10 % fine-tune anchors the data law and calibrates the linear-probe proxy"
        if fraction == PROBE_FINETUNE_DATA_FRACTION
        else "a second data size gives the data law its slope: the geometric mean of the largest run's "
        "size and this candidate's, so the law interpolates as far as it extrapolates"
    )
    return SuggestedProbe(
        kind="finetune", data_fraction=fraction, estimated_usd=fraction * train_usd + eval_usd, why=why
    )


@dataclass(frozen=True, slots=True)
class ProbeToBuy:
    """A candidate whose uncertainty most affects the pick (:func:`probe_value`) and the probe to run."""

    index: int
    probability_beats_recommendation: float
    expected_accuracy_gain: float
    probe: SuggestedProbe


@dataclass(frozen=True, slots=True)
class NothingFits:
    """Why a plan has no pick: its budget is below every candidate that fits its hardware (``field`` the
    budget limit that excludes the cheapest one, dollars first), or no candidate fits its hardware at all
    (``field`` names the candidates; no cheapest fitting one)."""

    field: str
    max_usd: float | None
    max_gpu_hours: float | None
    cheapest_fitting_usd: float | None
    cheapest_fitting_gpu_hours: float | None
    detail: str


def nothing_within_budget(scores: CandidateScores, budget: Budget) -> NothingFits:
    """What a plan whose budget admits no candidate says: the limit that fails and the cheapest candidate."""
    cheapest = int(np.lexsort((scores.gpu_hours, scores.cost_usd))[0])
    usd, hours = float(scores.cost_usd[cheapest]), float(scores.gpu_hours[cheapest])
    if budget.max_usd is not None and usd > budget.max_usd:
        field, detail = (
            "budget.max_usd",
            f"nothing fits under ${budget.max_usd:.4g}; the cheapest that fits costs ${usd:.4g}",
        )
    else:
        field = "budget.max_gpu_hours"
        detail = f"nothing fits within {budget.max_gpu_hours:.4g} GPU-hours; the cheapest that fits takes {hours:.4g} GPU-hours"
    return NothingFits(field, budget.max_usd, budget.max_gpu_hours, usd, hours, detail)


def nothing_fits_hardware(costs: CostColumns, budget: Budget, field: str) -> NothingFits:
    """What a plan none of whose candidates fits its hardware's memory says: the smallest, and what it needs."""
    smallest = int(np.argmin(costs["peak_memory_bytes"]))
    t = costs.table
    detail = (
        f"no candidate fits its hardware's memory; the smallest needs {costs['peak_memory_bytes'][smallest] / 2**30:.1f} GiB "
        f"({t.model_ids[int(t.model[smallest])]} {t.methods[int(t.method[smallest])].name} on "
        f"{t.hardware[int(t.gpu[smallest])].gpu})"
    )
    if budget.max_usd is not None:
        detail = f"nothing fits under ${budget.max_usd:.4g}: {detail}"
    return NothingFits(field, budget.max_usd, budget.max_gpu_hours, None, None, detail)


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What a plan decides. Every index is a candidate of the cost table; ``scores`` holds the candidates
    that fit their hardware's memory, ``fitting[k]`` being the candidate of ``scores`` entry ``k``.
    ``recommended`` (with ``expected_regret`` and ``probability_best``) is None when nothing fits the budget
    or the hardware (``infeasible`` says which)."""

    n_candidates: int
    recommended: int | None
    reason: str
    expected_regret: float | None
    probability_best: float | None
    frontier: list[int]
    bands: dict[str, int]
    probes: list[ProbeToBuy]
    budget_picks: list[BudgetPick]
    listed: list[int]
    tiers: dict[str, int]
    prediction_cost_usd: float
    exhaustive_cost_usd: float
    cost_reduction_ratio: float | None
    fitting: NDArray[np.intp]
    scores: CandidateScores
    infeasible: NothingFits | None = None


def _fitting(costs: CostColumns) -> NDArray[np.intp]:
    """The candidates that fit their hardware's memory (maybe none)."""
    return np.flatnonzero(costs["fits"].astype(bool)).astype(np.intp)


def _scores(
    costs: CostColumns, forecasts: Forecasts, fitting: NDArray[np.intp], interval_level: float
) -> CandidateScores:
    """The planner's arrays over the fitting candidates: dollars, GPU-hours, the forecast's interval."""
    if fitting.size == 0:  # nothing to choose from: empty arrays (the plan then says why)
        empty = np.zeros(0)
        return CandidateScores(empty, empty, empty, empty, empty, interval_level, np.zeros(0, dtype=np.intp))
    return CandidateScores.from_lists(
        cost_usd=costs["total_usd"][fitting],
        gpu_hours=(costs["train_gpu_hours"] + costs["eval_gpu_hours"])[fitting],
        accuracy_mean=forecasts.column("mean")[fitting],
        accuracy_lower=forecasts.column("lower")[fitting],
        accuracy_upper=forecasts.column("upper")[fitting],
        interval_level=interval_level,
        outcome_group=forecasts.outcome_groups()[fitting],
    )


def choose(scores: CandidateScores, objective: Objective, budget: Budget) -> tuple[Choice | None, dict[str, Choice]]:
    """The pick for the objective and budget (None when the budget admits nothing), and the COSMOS band
    picks. ``bands`` without a budget takes the most accurate band pick (ties: the cheaper); with one, it
    is the budget rule like ``max_accuracy``."""
    bands = choose_in_bands(scores)
    if objective.kind == "weights":
        choice = choose_by_weights(
            scores,
            accuracy_weight=objective.accuracy_weight,
            cost_weight=objective.cost_weight,
            max_usd=budget.max_usd,
            max_gpu_hours=budget.max_gpu_hours,
        )
    elif objective.kind == "bands" and budget.max_usd is None and budget.max_gpu_hours is None:
        choice = max(bands.values(), key=lambda c: (scores.accuracy_mean[c.index], -scores.cost_usd[c.index]))
    else:
        choice = choose_under_budget(scores, max_usd=budget.max_usd, max_gpu_hours=budget.max_gpu_hours)
    return choice, bands


def _probes_to_buy(
    costs: CostColumns, scores: CandidateScores, fitting: NDArray[np.intp], choice: Choice, forecasts: Forecasts
) -> list[ProbeToBuy]:
    """The probes worth most per dollar, none for a candidate already run: a smaller run cannot say more
    about it than its own measurement (whose interval is its test set's sampling error)."""
    measured = np.array([a.tier == "measured" for a in forecasts.accuracies], dtype=np.bool_)
    probeable = ~measured[forecasts.of_candidate[fitting]]
    probes = []
    for k, probability, gain in probe_value(scores, choice, probeable=probeable):
        i = int(fitting[k])
        method = costs.table.methods[int(costs.table.method[i])].name
        probe = suggested_probe(
            method,
            train_usd=float(costs["train_usd"][i]),
            eval_usd=float(costs["eval_usd"][i]),
            candidate=forecasts.observations[int(forecasts.of_candidate[i])],
            measured=forecasts.measured_like(i),
        )
        probes.append(ProbeToBuy(i, probability, gain, probe))
    return probes


def prediction_cost_usd(forecasts: Forecasts, spent: Iterable[tuple[str, float | None]]) -> float:
    """What the plan's forecasts cost to make (COSMOS Eq. 4's prediction cost): the dollars of this task's
    measurements (``(model_id, cost_usd)``) of the models a probe- or measured-tier forecast rests on."""
    informed = forecasts.informed_models()
    return float(sum(usd or 0.0 for model_id, usd in spent if model_id in informed))


def _listed(
    n_candidates: int,
    scores: CandidateScores,
    fitting: NDArray[np.intp],
    shown: Iterable[int],
) -> list[int]:
    """Every candidate when there are at most :data:`FULL_LISTING_LIMIT`; else ``shown`` (frontier, picks,
    runners-up, probes) and the :data:`TOP_ROWS_WHEN_LARGE` most accurate fitting candidates."""
    if n_candidates <= FULL_LISTING_LIMIT:
        return list(range(n_candidates))
    top = fitting[np.argsort(-scores.accuracy_mean, kind="stable")[:TOP_ROWS_WHEN_LARGE]]
    return sorted({*shown, *(int(i) for i in top)})


def _infeasible(costs: CostColumns, scores: CandidateScores, budget: Budget, field: str) -> NothingFits:
    if scores.n_candidates == 0:
        return nothing_fits_hardware(costs, budget, field)
    return nothing_within_budget(scores, budget)


def plan_candidates(
    costs: CostColumns,
    forecasts: Forecasts,
    *,
    budget: Budget,
    objective: Objective,
    interval_level: float,
    spent: Sequence[tuple[str, float | None]] = (),
    field: str = "candidates",
) -> PlanResult:
    """Choose among the candidates that fit, say which probes to buy and what the forecasts cost.

    ``spent`` is ``(model_id, cost_usd)`` of the task's measurements (:func:`prediction_cost_usd`);
    ``field`` names the candidates in ``infeasible`` when none fits its hardware.
    """
    fitting = _fitting(costs)
    scores = _scores(costs, forecasts, fitting, interval_level)
    choice, bands = choose(scores, objective, budget) if fitting.size else (None, {})
    recommended = None if choice is None else int(fitting[choice.index])
    frontier = [int(fitting[k]) for k in pareto_frontier(scores.cost_usd, scores.accuracy_mean)]
    band_picks = {name: int(fitting[c.index]) for name, c in bands.items()}
    probes = [] if choice is None else _probes_to_buy(costs, scores, fitting, choice, forecasts)
    prediction_usd = prediction_cost_usd(forecasts, spent)
    exhaustive_usd = float(scores.cost_usd.sum())
    picked = [] if recommended is None else [recommended]
    picks = [
        BudgetPick(
            p.from_usd,
            int(fitting[p.index]),
            tuple(RunnerUp(r.from_usd, int(fitting[r.index])) for r in p.runners_up),
        )
        for p in budget_picks(scores, max_gpu_hours=budget.max_gpu_hours)
    ]
    runners_up = [r.index for p in picks for r in p.runners_up]
    shown = [*frontier, *picked, *band_picks.values(), *(p.index for p in probes), *runners_up]
    return PlanResult(
        n_candidates=len(costs),
        recommended=recommended,
        reason=("nothing fits the budget" if fitting.size else "nothing fits its hardware")
        if choice is None
        else choice.reason,
        expected_regret=None if choice is None else expected_regret(scores, choice),
        probability_best=None if choice is None else probability_best(scores, choice),
        frontier=frontier,
        bands=band_picks,
        probes=probes,
        budget_picks=picks,
        listed=_listed(len(costs), scores, fitting, shown),
        tiers=forecasts.tier_counts(),
        prediction_cost_usd=prediction_usd,
        exhaustive_cost_usd=exhaustive_usd,
        cost_reduction_ratio=cost_reduction_ratio(exhaustive_usd, prediction_usd) if exhaustive_usd > 0 else None,
        fitting=fitting,
        scores=scores,
        infeasible=_infeasible(costs, scores, budget, field) if choice is None else None,
    )
