"""Planning service: load what a plan reads, let :mod:`predictors.planning` decide, store and format.

A plan is stored with its request, so it can be re-predicted when new measurements arrive (a plan
read after the measurement store changed is recomputed before it is returned).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.candidates import candidate_key, candidate_label
from api.costing import ResolvedTable, cost_table, resolve_candidates, resolve_grid
from api.priors import PRIORS
from api.schemas.cost import Candidate, InlineModel
from api.schemas.plans import Grid, PlanRequest, TaskSpec, WeightsObjective
from api.version_reasons import VersionEvidence, because
from predictors.accuracy.conformal import ConformalIntervals
from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import Accuracy
from predictors.architecture import architecture_from_hf_config
from predictors.cost import TrainingConfig
from predictors.cost.columns import CostColumns
from predictors.cost.table import method_key
from predictors.errors import InvalidInputError
from predictors.methods import parse_method
from predictors.planner import Budget
from predictors.planning import (
    Forecasts,
    NothingFits,
    Objective,
    PlanResult,
    TaskFacts,
    forecast_candidates,
    plan_candidates,
)
from storage.errors import NotFoundError
from storage.models import MeasurementRow, PlanRow, PlanVersionRow, new_id
from storage.repositories import plans as plans_repo
from storage.repositories import tasks as tasks_repo

__all__ = [
    "PlanComputation",
    "PlanInputs",
    "PlanTask",
    "candidate_row",
    "compute_plan",
    "create_plan",
    "evaluate_plan",
    "load_plan_inputs",
    "plan_changes",
    "plan_public",
    "prediction_values",
    "predictions_as_planned",
    "read_plan",
]

logger = logging.getLogger("tunecast.planning")


@dataclass(frozen=True, slots=True)
class PlanTask:
    """The task a plan predicts for: its fields (defaults filled) and, for a stored task, its id."""

    spec: TaskSpec
    task_id: str | None = None

    def owns(self, row: MeasurementRow) -> bool:
        """Whether a measurement is of this task: by id when both carry one, else by name."""
        if self.task_id is not None and row.task_id is not None:
            return row.task_id == self.task_id
        return row.task == self.spec.name

    @property
    def facts(self) -> TaskFacts:
        """What the accuracy predictors read of it."""
        s = self.spec
        return TaskFacts(name=s.name, kind=s.kind, n_choices=s.n_choices, train_examples=s.train_examples)


def _task(session: Session, task: TaskSpec | str) -> PlanTask:
    """An inline task as given; a stored one (by id or unique name) with the fields its datasets filled in."""
    if isinstance(task, TaskSpec):
        return PlanTask(task)
    row = tasks_repo.find_task(session=session, reference=task)
    if row is None:
        raise NotFoundError("task", task, field="task", location="body")
    values = tasks_repo.task_values(row)
    return PlanTask(TaskSpec.model_validate({k: values[k] for k in TaskSpec.model_fields}), row.id)


def _observation_from_measurement(row: MeasurementRow, task: PlanTask) -> Observation:
    candidate = row.candidate or {}
    same_task = task.owns(row)
    return make_observation(
        model_id=row.model_id,
        method=candidate.get("method") or {"name": row.method_name},
        task=task.spec.name if same_task else (row.task_id or row.task),
        task_kind=task.spec.kind if same_task else str(candidate.get("task_kind", "multiple_choice")),
        n_choices=task.spec.n_choices if same_task else candidate.get("n_choices"),
        training=candidate.get("training"),
        task_train_examples=task.spec.train_examples if same_task else None,
        accuracy=row.accuracy,
        source=row.source,
        eval_examples=row.eval_examples,
        learning_rate=candidate.get("learning_rate"),
        optimizer_steps=candidate.get("optimizer_steps"),
        measurement_id=row.id,
    )


def _unique(items: Sequence[Any], key: Any) -> list[Any]:
    """``items`` without later repeats of an equal ``key(item)``, in order."""
    seen: set[Any] = set()
    kept = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept


def _task_training(training: TrainingConfig, task: TaskSpec) -> TrainingConfig:
    """The task's training-set size is the default of ``training.train_examples`` (packed ``dataset_tokens``
    and an explicit ``train_examples`` win), so costing and forecasting train on the task's data."""
    if training.train_examples is not None or training.dataset_tokens is not None or task.train_examples is None:
        return training
    return training.model_copy(update={"train_examples": task.train_examples})


def _grid_table(session: Session, grid: Grid, task: TaskSpec) -> ResolvedTable:
    """A grid as a candidate table without expanding it: each axis checked once (errors point at the grid
    entry), every method's defaults filled in, and repeats dropped: equal configurations are one
    candidate with one forecast."""
    for j, model in enumerate(grid.models):
        if isinstance(model, InlineModel):
            try:
                architecture_from_hf_config(model.architecture)
            except InvalidInputError as exc:
                field = f"grid.models[{j}].architecture{exc.field.removeprefix('architecture')}"
                raise InvalidInputError(field, exc.message) from None
    methods = [parse_method(method, field=f"grid.methods[{j}]") for j, method in enumerate(grid.methods)]
    return resolve_grid(
        session=session,
        models=_unique(grid.models, lambda m: m if isinstance(m, str) else m.model_dump_json()),
        methods=_unique(methods, method_key),
        trainings=_unique([_task_training(t, task) for t in grid.training], lambda t: t),
        hardware=_unique(grid.hardware, lambda h: h),
        evaluation=grid.evaluation,
    )


def _plan_table(session: Session, request: PlanRequest, task: TaskSpec) -> tuple[ResolvedTable, str]:
    """The request's candidates as a table in canonical form (method defaults and the task's data size
    filled in), and the field errors about them name."""
    if request.grid is not None:
        return _grid_table(session, request.grid, task), "grid.candidates"
    candidates = [c.model_copy(update={"training": _task_training(c.training, task)}) for c in request.candidates or []]
    return resolve_candidates(session=session, candidates=candidates), "candidates"


def _inline_models(resolved: ResolvedTable) -> dict[str, ModelInfo]:
    return {
        model_id: ModelInfo(
            id=model_id,
            architecture=architecture_from_hf_config(model.architecture),
            training_tokens=model.training_tokens,
            benchmarks=model.benchmarks,
        )
        for model_id, model in resolved.inline_models.items()
    }


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What a plan reads, each through its repository: the task, the costed candidates, the task's
    measurements (and with the shipped corpus, the evidence the tiers use), the prior and its conformal
    calibration, and the version of the corpus the prior was fitted on."""

    task: PlanTask
    resolved: ResolvedTable
    field: str
    costs: CostColumns
    measurements: list[MeasurementRow]
    evidence: list[Observation]
    prior: PriorPredictor | None
    conformal: ConformalIntervals | None
    watermark: dict[str, Any]
    prior_version: str | None = None


def load_plan_inputs(session: Session, request: PlanRequest) -> PlanInputs:
    """Everything :func:`evaluate_plan` needs from storage, read once."""
    plan_task = _task(session, request.task)
    task = plan_task.spec
    resolved, field = _plan_table(session, request, task)
    costs = cost_table(resolved)
    watermark = plans_repo.measurements_watermark(session=session)
    rows = plans_repo.prediction_measurements(session=session, task_name=task.name, task_id=plan_task.task_id)
    current = PRIORS.current(session)  # never fitted here: the last good prior while a refit runs
    fitted = current.prior
    inline = _inline_models(resolved)
    # The tiers look up the plan's own task only, so only its rows (stored and shipped) are indexed.
    own_corpus = [o for o in load_corpus_observations() if o.task == task.name]
    return PlanInputs(
        task=plan_task,
        resolved=resolved,
        field=field,
        costs=costs,
        measurements=rows,
        evidence=[*own_corpus, *(_observation_from_measurement(row, plan_task) for row in rows)],
        prior=fitted.with_models(inline) if fitted is not None and inline else fitted,
        watermark=watermark,
        conformal=current.conformal,
        prior_version=current.version,
    )


@dataclass(frozen=True, slots=True)
class PlanComputation:
    """A computed plan before it is formatted: its inputs, every candidate's forecast, the decisions."""

    inputs: PlanInputs
    forecasts: Forecasts
    result: PlanResult


def _objective(request: PlanRequest) -> Objective:
    if isinstance(request.objective, WeightsObjective):
        weights = request.objective.weights
        return Objective("weights", accuracy_weight=weights.accuracy, cost_weight=weights.cost)
    return Objective(request.objective)


def _forecasts(inputs: PlanInputs, request: PlanRequest) -> Forecasts:
    return forecast_candidates(
        inputs.costs,
        inputs.task.facts,
        measurements=inputs.evidence,
        prior=inputs.prior,
        level=request.interval,
        conformal=inputs.conformal,
    )


def evaluate_plan(session: Session, request: PlanRequest) -> PlanComputation:
    """Load, forecast and decide (:func:`predictors.planning.plan_candidates`); nothing is stored."""
    inputs = load_plan_inputs(session, request)
    forecasts = _forecasts(inputs, request)
    result = plan_candidates(
        inputs.costs,
        forecasts,
        budget=Budget(request.budget.max_usd, request.budget.max_gpu_hours),
        objective=_objective(request),
        interval_level=request.interval,
        spent=[(r.model_id, r.cost_usd) for r in inputs.measurements if inputs.task.owns(r)],
        field=inputs.field,
    )
    return PlanComputation(inputs, forecasts, result)


COLUMN_FIELDS = (
    "total_usd",
    "train_usd",
    "eval_usd",
    "train_gpu_hours",
    "eval_gpu_hours",
    "step_time_s",
    "peak_memory_bytes",
)
"""The cost columns a compact plan response carries for every candidate (beside fits and the forecast)."""


def candidate_columns(resolved: ResolvedTable, costs: CostColumns, forecasts: Forecasts) -> dict[str, Any]:
    """Every candidate as columns: indices into the distinct parts (``axes``), its costs and its forecast.
    For clients that want all 100,000 rows without 100,000 objects."""
    t = resolved.table
    tiers = [a.tier for a in forecasts.accuracies]
    return {
        "axes": {
            "models": list(resolved.model_json),
            "methods": list(resolved.method_json),
            "training": [c.model_dump(mode="json") for c in t.trainings],
            "hardware": [h.model_dump(mode="json") for h in t.hardware],
            "evaluation": [e.model_dump(mode="json") for e in t.evaluations],
        },
        "model": t.model.tolist(),
        "method": t.method.tolist(),
        "training": t.training.tolist(),
        "hardware": t.gpu.tolist(),
        "evaluation": t.evaluation.tolist(),
        **{name: costs[name].tolist() for name in COLUMN_FIELDS},
        "fits": costs["fits"].astype(bool).tolist(),
        "accuracy_mean": forecasts.column("mean").tolist(),
        "accuracy_lower": forecasts.column("lower").tolist(),
        "accuracy_upper": forecasts.column("upper").tolist(),
        "tier": [tiers[k] for k in forecasts.of_candidate.tolist()],
    }


def candidate_row(computation: PlanComputation, i: int) -> dict[str, Any]:
    """Candidate ``i`` as a plan lists it: its label, the candidate, its cost estimate and its forecast."""
    inputs = computation.inputs
    candidate = inputs.resolved.candidate_json(i)
    return {
        "index": i,
        "label": candidate_label(candidate),
        "candidate": candidate,
        "cost": inputs.costs.estimate(i).model_dump(mode="json"),
        "accuracy": computation.forecasts.of(i).as_dict(),
        "fits": bool(inputs.costs["fits"][i]),
        "total_usd": float(inputs.costs["total_usd"][i]),
    }


def _pick(computation: PlanComputation, i: int) -> dict[str, Any]:
    """A band pick, briefly."""
    forecast = computation.forecasts.of(i).as_dict()
    return {"index": i, "accuracy": forecast, "total_usd": float(computation.inputs.costs["total_usd"][i])}


def _recommendation(plan: PlanResult, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The pick's row with why it was chosen; None when the budget admits nothing."""
    if plan.recommended is None:
        return None
    row = next(r for r in rows if r["index"] == plan.recommended)
    return {
        **row,
        "reason": plan.reason,
        "expected_regret": plan.expected_regret,
        "probability_best": plan.probability_best,
    }


def _infeasible(nothing: NothingFits) -> dict[str, Any]:
    """Why a plan has no recommendation (schema ``Infeasible``)."""
    return {
        "field": nothing.field,
        "max_usd": nothing.max_usd,
        "max_gpu_hours": nothing.max_gpu_hours,
        "cheapest_fitting_usd": nothing.cheapest_fitting_usd,
        "cheapest_fitting_gpu_hours": nothing.cheapest_fitting_gpu_hours,
        "detail": nothing.detail,
    }


def _result_json(computation: PlanComputation, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored and shown result; ``rows`` are the listed candidates (:func:`candidate_row`)."""
    plan, task = computation.result, computation.inputs.task
    return {
        "task": {**task.spec.model_dump(mode="json"), "id": task.task_id},
        "n_candidates": plan.n_candidates,
        "candidates": rows,
        "frontier": plan.frontier,
        "budget_picks": [
            {
                "from_usd": p.from_usd,
                "index": p.index,
                "runners_up": [{"from_usd": r.from_usd, "index": r.index} for r in p.runners_up],
            }
            for p in plan.budget_picks
        ],
        "recommendation": _recommendation(plan, rows),
        **({"infeasible": _infeasible(plan.infeasible)} if plan.infeasible is not None else {}),
        "bands": {name: _pick(computation, i) for name, i in plan.bands.items()},
        "probes_to_buy": [
            {
                "index": p.index,
                "probability_beats_recommendation": p.probability_beats_recommendation,
                "expected_accuracy_gain": p.expected_accuracy_gain,
                "probe": p.probe.as_dict(),
            }
            for p in plan.probes
        ],
        "prediction_cost_usd": plan.prediction_cost_usd,
        "exhaustive_cost_usd": plan.exhaustive_cost_usd,
        "cost_reduction_ratio": plan.cost_reduction_ratio,
        "tiers": plan.tiers,
        "measurements_watermark": computation.inputs.watermark,
        "prior_version": computation.inputs.prior_version,
    }


def prediction_values(
    forecast: Accuracy, *, candidate: dict[str, Any], cost: dict[str, Any], task_id: str | None
) -> dict[str, Any]:
    """A forecast as a stored prediction, with the predictor's own interval, as conformal calibration
    (:mod:`predictors.accuracy.conformal`) must score the predictor."""
    lower, upper = forecast.raw_interval or (forecast.lower, forecast.upper)
    return {
        "id": new_id(),
        "task_id": task_id,
        "candidate_key": candidate_key(candidate),
        "candidate": candidate,
        "tier": forecast.tier,
        "predictor": forecast.predictor,
        "accuracy_mean": forecast.mean,
        "accuracy_lower": lower,
        "accuracy_upper": upper,
        "cost": cost,
    }


def _stored_predictions(computation: PlanComputation, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every listed candidate gets a stored prediction (its id set on its row), so a verification run of
    any of them (the UI's "verify") is checked against what was predicted for it."""
    predictions = []
    for row in rows:
        values = prediction_values(
            computation.forecasts.of(row["index"]),
            candidate=row["candidate"],
            cost=row["cost"],
            task_id=computation.inputs.task.task_id,
        )
        row["prediction_id"] = values["id"]
        predictions.append(values)
    return predictions


def predictions_as_planned(
    session: Session, *, task: TaskSpec | str, candidates: Sequence[Candidate]
) -> list[dict[str, Any]]:
    """The predictions a plan of these ``candidates`` for ``task`` would store now (the same evidence, prior,
    tiers and level), in order, storing nothing: an imported result's forecast from what came before it."""
    request = PlanRequest(task=task, candidates=list(candidates))
    inputs = load_plan_inputs(session, request)
    forecasts = _forecasts(inputs, request)
    return [
        prediction_values(
            forecasts.of(i),
            candidate=inputs.resolved.candidate_json(i),
            cost=inputs.costs.estimate(i).model_dump(mode="json"),
            task_id=inputs.task.task_id,
        )
        for i in range(len(candidates))
    ]


def compute_plan(
    session: Session, request: PlanRequest, *, columns: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cost and forecast every candidate, choose, and say which probes to buy: ``(result, predictions)``,
    the predictions being what the plan stores to check against later runs. With ``columns`` the result
    also carries every candidate as :func:`candidate_columns` (``candidate_columns``)."""
    computation = evaluate_plan(session, request)
    rows = [candidate_row(computation, i) for i in computation.result.listed]
    result = _result_json(computation, rows)
    predictions = _stored_predictions(computation, rows)
    if result["recommendation"] is not None:
        recommended = next(r for r in rows if r["index"] == computation.result.recommended)
        result["recommendation"]["prediction_id"] = recommended["prediction_id"]
    if columns:
        inputs = computation.inputs
        result["candidate_columns"] = candidate_columns(inputs.resolved, inputs.costs, computation.forecasts)
    return result, predictions


def create_plan(
    *, session: Session, request: PlanRequest, columns: bool = False
) -> tuple[PlanRow, dict[str, Any] | None]:
    """Compute and store a plan; with ``columns``, also every candidate as columns (returned, not stored:
    a plan keeps the rows it shows)."""
    result, predictions = compute_plan(session, request, columns=columns)
    every_candidate = result.pop("candidate_columns", None)
    stored_request = request.model_dump(mode="json", exclude_none=True)
    task_id = result["task"].get("id")
    if task_id:
        stored_request["task_id"] = task_id
    plan = plans_repo.create_plan(
        session=session, request=stored_request, result=result, predictions=predictions, task_id=task_id
    )
    return plan, every_candidate


MAX_LISTED_CHANGES = 50


def _forecast_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return before.get("tier") != after.get("tier") or any(
        abs(float(before.get(k) or 0.0) - float(after.get(k) or 0.0)) > 1e-9 for k in ("mean", "lower", "upper")
    )


def plan_changes(
    before: dict[str, Any], after: dict[str, Any], *, evidence: VersionEvidence | None = None
) -> dict[str, Any]:
    """What a re-prediction changed: the pick (by candidate), the forecasts that moved (largest first) and
    the candidates whose cost changed; empty lists and no pick when nothing did. With ``evidence``, each
    moved forecast says why (``because``, :func:`api.version_reasons.because`)."""
    old = {candidate_key(r["candidate"]): r for r in before.get("candidates", [])}

    def brief(forecast: dict[str, Any]) -> dict[str, Any]:
        return {k: forecast.get(k) for k in ("mean", "lower", "upper", "tier", "predictor")}

    moved, repriced = [], 0
    for row in after.get("candidates", []):
        previous = old.get(candidate_key(row["candidate"]))
        if previous is None:
            continue
        if _forecast_moved(previous["accuracy"], row["accuracy"]):
            moved.append(
                {
                    "index": row["index"],
                    "label": candidate_label(row["candidate"]),
                    "from": brief(previous["accuracy"]),
                    "to": brief(row["accuracy"]),
                    **({"because": because(previous["accuracy"], row["accuracy"], evidence)} if evidence else {}),
                }
            )
        repriced += abs(float(previous["total_usd"]) - float(row["total_usd"])) > 1e-12 * max(1.0, row["total_usd"])
    moved.sort(key=lambda m: -abs(float(m["to"]["mean"]) - float(m["from"]["mean"])))
    pick_before, pick_after = before.get("recommendation") or {}, after.get("recommendation") or {}
    pick = None
    if pick_before.get("candidate") != pick_after.get("candidate"):
        pick = {
            "from": candidate_label(pick_before["candidate"]) if pick_before.get("candidate") else None,
            "to": candidate_label(pick_after["candidate"]) if pick_after.get("candidate") else None,
        }
    return {"pick": pick, "moved": moved[:MAX_LISTED_CHANGES], "n_moved": len(moved), "n_repriced": int(repriced)}


def _version_evidence(
    session: Session, before: dict[str, Any], after: dict[str, Any], new: Sequence[MeasurementRow]
) -> VersionEvidence:
    """What arrived between two results of a plan: ``new`` (the measurements since the older one), every
    measurement the newer one's forecasts name, and whether the prior was retrained in between."""
    task = after["task"]
    owner = PlanTask(TaskSpec.model_validate({k: task[k] for k in TaskSpec.model_fields if k in task}), task.get("id"))
    named = {i for row in after.get("candidates", []) for i in row["accuracy"].get("evidence") or ()}
    by_id = {row.id: row for row in new}
    rows = {**plans_repo.measurements_by_id(session=session, ids=named - set(by_id)), **by_id}
    return VersionEvidence(
        new=by_id,
        rows=rows,
        n_other_tasks=sum(not owner.owns(row) for row in new),
        prior_changed=before.get("prior_version") != after.get("prior_version"),
        task_train_examples=task.get("train_examples"),
    )


def _trigger(rows: Sequence[MeasurementRow]) -> dict[str, Any]:
    return {
        "reason": "new measurements",
        "n_measurements": len(rows),
        "measurements": [
            {
                "id": r.id,
                "task": r.task,
                "model": r.model_id,
                "method": r.method_name,
                "accuracy": r.accuracy,
                "source": r.source,
            }
            for r in rows[:MAX_LISTED_CHANGES]
        ],
    }


def _serves_runners_up(result: dict[str, Any]) -> bool:
    """Whether a stored result has the budget staircase with its runners-up (the plan page reads them); a
    plan stored before is re-predicted once, as if its measurements had changed."""
    steps = result.get("budget_picks")
    return isinstance(steps, list) and all("runners_up" in step for step in steps)


def read_plan(*, session: Session, plan_id: str, take_slot: Callable[[], Callable[[], None]] | None = None) -> PlanRow:
    """A stored plan, re-predicted first when measurements changed since it was computed. A re-prediction
    that changes a forecast, a cost or the pick becomes the plan's next version, saying which measurements
    triggered it and what moved; one that changes nothing shown only records that it saw them.
    ``take_slot`` bounds re-predictions (it returns the release, or raises when none is free)."""
    plan = plans_repo.get_plan(session=session, plan_id=plan_id)
    seen = plan.result.get("measurements_watermark")
    if seen == plans_repo.measurements_watermark(session=session) and _serves_runners_up(plan.result):
        return plan
    request = PlanRequest.model_validate({k: v for k, v in plan.request.items() if k != "task_id"})
    release = take_slot() if take_slot is not None else None
    try:
        result, predictions = compute_plan(session, request)
    finally:
        if release is not None:
            release()
    changed = plan_changes(plan.result, result)
    if changed["pick"] is None and not changed["n_moved"] and not changed["n_repriced"]:
        seen_now = {k: result[k] for k in ("measurements_watermark", "budget_picks")}
        return plans_repo.set_plan_result(session=session, plan=plan, result={**plan.result, **seen_now})
    new = plans_repo.measurements_since(session=session, watermark=seen)
    changed = plan_changes(plan.result, result, evidence=_version_evidence(session, plan.result, result, new))
    trigger = _trigger(new)
    return plans_repo.add_plan_version(
        session=session, plan=plan, result=result, predictions=predictions, trigger=trigger, changed=changed
    )


def plan_public(plan: PlanRow, *, versions: Sequence[PlanVersionRow], version: int | None = None) -> dict[str, Any]:
    """The plan as the API shows it: the latest version (or ``version``) and the history of versions."""
    shown = next((v for v in versions if v.version == version), None) if version is not None else None
    result = dict(shown.result if shown is not None else plan.result)
    result.pop("measurements_watermark", None)
    result.pop("measurements_version", None)
    result.pop("prior_version", None)
    return {
        "id": plan.id,
        "status": plan.status,
        "request": plan.request,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "version": shown.version if shown is not None else plan.version,
        "latest_version": plan.version,
        "versions": [
            {"version": v.version, "created_at": v.created_at, "trigger": v.trigger, "changed": v.changed}
            for v in versions
        ],
        **result,
    }
