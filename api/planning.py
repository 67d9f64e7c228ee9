"""Planning service: cost every candidate, forecast its accuracy with the best tier available, choose.

A plan is stored with its request, so it can be re-predicted when new measurements arrive (a plan
read after the measurement store changed is recomputed before it is returned).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from api.candidates import candidate_key, candidate_label
from api.costing import ResolvedTable, cost_table, resolve_candidates, resolve_grid
from api.priors import PRIORS
from api.schemas.cost import InlineModel
from api.schemas.plans import Grid, PlanRequest, TaskSpec, WeightsObjective
from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import Accuracy, predict_accuracies
from predictors.architecture import architecture_from_hf_config
from predictors.cost import TrainingConfig, cost_reduction_ratio
from predictors.cost.columns import CostColumns
from predictors.cost.table import method_key
from predictors.errors import InfeasibleError, InvalidInputError
from predictors.methods import METHODS, parse_method
from predictors.planner import (
    CandidateScores,
    Choice,
    choose_by_weights,
    choose_in_bands,
    choose_under_budget,
    expected_regret,
    pareto_frontier,
    probe_value,
)
from storage.errors import NotFoundError
from storage.models import MeasurementRow, PlanRow, PlanVersionRow, new_id
from storage.repositories import plans as plans_repo
from storage.repositories import tasks as tasks_repo

__all__ = ["PlanTask", "compute_plan", "create_plan", "plan_changes", "plan_public", "read_plan"]

logger = logging.getLogger("tunecast.planning")

FULL_LISTING_LIMIT = 2000
TOP_ROWS_WHEN_LARGE = 500


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
    )


def _suggested_probe(method_name: str, train_usd: float, eval_usd: float) -> dict[str, Any]:
    """The cheapest run that would sharpen this candidate's forecast (COSMOS probes)."""
    if METHODS[method_name].kind != "finetune":
        return {
            "kind": "icl_probe",
            "shots": [0, 1, 8],
            "estimated_usd": 3 * eval_usd,
            "why": "three few-shot probes fit the ICL shot law (COSMOS Eq. 5)",
        }
    return {
        "kind": "finetune",
        "data_fraction": 0.1,
        "estimated_usd": 0.1 * train_usd + eval_usd,
        "why": "a 10 % fine-tune anchors the data law and calibrates the linear-probe proxy",
    }


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
        for model_id, model in resolved.models.items()
        if isinstance(model, InlineModel)
    }


@dataclass(frozen=True, slots=True)
class _Forecasts:
    """One forecast per distinct (model, method, the training settings accuracy depends on), and which of
    them each candidate has: a 100,000-candidate grid asks the predictors a few hundred questions."""

    accuracies: list[Accuracy]
    observations: list[Observation]
    of_candidate: NDArray[np.intp]

    def column(self, name: str) -> NDArray[np.float64]:
        return np.asarray([getattr(a, name) for a in self.accuracies], dtype=float)[self.of_candidate]

    def outcome_groups(self) -> NDArray[np.intp]:
        """Candidates with equal observation keys share one true accuracy (they differ only in hardware or
        shape): one group each, for the planner's Monte-Carlo."""
        ids: dict[tuple[Any, ...], int] = {}
        groups = np.asarray([ids.setdefault(o.key(), len(ids)) for o in self.observations], dtype=np.intp)
        return groups[self.of_candidate]


def _forecast(
    resolved: ResolvedTable,
    task: TaskSpec,
    *,
    measurements: Sequence[Observation],
    prior: PriorPredictor | None,
    level: float,
) -> _Forecasts:
    """The best forecast of every candidate (:func:`predict_accuracies`), asked once per distinct question."""
    t = resolved.table
    accuracy_training: dict[tuple[Any, ...], int] = {}
    training_key = np.asarray(
        [
            accuracy_training.setdefault((c.train_examples, c.epochs, c.data_fraction), len(accuracy_training))
            for c in t.trainings
        ],
        dtype=np.intp,
    )
    trains = np.asarray([METHODS[m.name].kind == "finetune" for m in t.methods], dtype=bool)
    question = (t.model * len(t.methods) + t.method) * max(len(accuracy_training), 1) + np.where(
        trains[t.method], training_key[t.training], 0
    )
    _, first, of_candidate = np.unique(question, return_index=True, return_inverse=True)
    observations = [
        make_observation(
            model_id=resolved.model_id(int(i)),
            method=resolved.method_json[int(t.method[i])],
            task=task.name,
            task_kind=task.kind,
            n_choices=task.n_choices,
            training=t.trainings[int(t.training[i])].model_dump(),
            task_train_examples=task.train_examples,
        )
        for i in first
    ]
    accuracies = predict_accuracies(observations, measurements=measurements, prior=prior, level=level)
    return _Forecasts(accuracies, observations, of_candidate.astype(np.intp))


def _choose(scores: CandidateScores, request: PlanRequest) -> tuple[Choice, dict[str, Choice]]:
    """The pick for the request's objective and budget, and the COSMOS band picks."""
    budget = request.budget
    bands = choose_in_bands(scores)
    if isinstance(request.objective, WeightsObjective):
        weights = request.objective.weights
        choice = choose_by_weights(
            scores,
            accuracy_weight=weights.accuracy,
            cost_weight=weights.cost,
            max_usd=budget.max_usd,
            max_gpu_hours=budget.max_gpu_hours,
        )
    elif request.objective == "bands" and budget.max_usd is None and budget.max_gpu_hours is None:
        choice = max(bands.values(), key=lambda c: (scores.accuracy_mean[c.index], -scores.cost_usd[c.index]))
    else:
        choice = choose_under_budget(scores, max_usd=budget.max_usd, max_gpu_hours=budget.max_gpu_hours)
    return choice, bands


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


def candidate_columns(resolved: ResolvedTable, costs: CostColumns, forecasts: _Forecasts) -> dict[str, Any]:
    """Every candidate as columns: indices into the distinct parts (``axes``), its costs and its forecast.
    For clients that want all 100,000 rows without 100,000 objects."""
    t = resolved.table
    tiers = np.asarray([a.tier for a in forecasts.accuracies], dtype=object)[forecasts.of_candidate]
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
        "tier": tiers.tolist(),
    }


def compute_plan(
    session: Session, request: PlanRequest, *, columns: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cost and forecast every candidate, choose, and say which probes to buy: ``(result, predictions)``,
    the predictions being what the plan stores to check against later runs. With ``columns`` the result
    also carries every candidate as :func:`candidate_columns` (``candidate_columns``)."""
    plan_task = _task(session, request.task)
    task = plan_task.spec
    resolved, field = _plan_table(session, request, task)
    costs = cost_table(session=session, resolved=resolved)

    watermark = plans_repo.measurements_watermark(session=session)
    rows = plans_repo.prediction_measurements(session=session, task_name=task.name, task_id=plan_task.task_id)
    measurements = [_observation_from_measurement(row, plan_task) for row in rows]
    fitted = PRIORS.current(session).prior  # never fitted here: the last good prior while a refit runs
    inline = _inline_models(resolved)
    prior = fitted.with_models(inline) if fitted is not None and inline else fitted
    # The tiers look up the plan's own task only, so only its rows (stored and shipped) are indexed.
    own_corpus = [o for o in load_corpus_observations() if o.task == task.name]
    forecasts = _forecast(
        resolved, task, measurements=[*own_corpus, *measurements], prior=prior, level=request.interval
    )

    fits = costs["fits"].astype(bool)
    if not fits.any():
        smallest = int(np.argmin(costs["peak_memory_bytes"]))
        raise InfeasibleError(
            field,
            f"no candidate fits its hardware's memory; the smallest needs {costs['peak_memory_bytes'][smallest] / 2**30:.1f} GiB "
            f"({resolved.model_id(smallest)} {resolved.method_name(smallest)} on "
            f"{resolved.table.hardware[int(resolved.table.gpu[smallest])].gpu})",
        )
    fitting = np.flatnonzero(fits)
    total_usd = costs["total_usd"]
    mean, lower, upper = forecasts.column("mean"), forecasts.column("lower"), forecasts.column("upper")
    scores = CandidateScores.from_lists(
        cost_usd=total_usd[fitting],
        gpu_hours=(costs["train_gpu_hours"] + costs["eval_gpu_hours"])[fitting],
        accuracy_mean=mean[fitting],
        accuracy_lower=lower[fitting],
        accuracy_upper=upper[fitting],
        interval_level=request.interval,
        outcome_group=forecasts.outcome_groups()[fitting],
    )

    def original(choice: Choice) -> int:
        return int(fitting[choice.index])

    choice, bands = _choose(scores, request)
    regret = expected_regret(scores, choice)
    frontier = [int(fitting[i]) for i in pareto_frontier(scores.cost_usd, scores.accuracy_mean)]

    def accuracy(i: int) -> dict[str, Any]:
        return forecasts.accuracies[int(forecasts.of_candidate[i])].as_dict()

    def row(i: int) -> dict[str, Any]:
        return {
            "index": i,
            "candidate": resolved.candidate_json(i),
            "cost": costs.estimate(i).model_dump(mode="json"),
            "accuracy": accuracy(i),
            "fits": bool(fits[i]),
            "total_usd": float(total_usd[i]),
        }

    recommended = original(choice)
    probes: list[dict[str, Any]] = [
        {
            "index": int(fitting[index]),
            "probability_beats_recommendation": probability,
            "expected_accuracy_gain": gain,
            "probe": _suggested_probe(
                resolved.method_name(int(fitting[index])),
                float(costs["train_usd"][fitting[index]]),
                float(costs["eval_usd"][fitting[index]]),
            ),
        }
        for index, probability, gain in probe_value(scores, choice)
    ]
    tier_codes = {name: code for code, name in enumerate(("prior", "probe", "measured"))}
    counts = np.bincount(
        np.asarray([tier_codes[a.tier] for a in forecasts.accuracies], dtype=np.intp)[forecasts.of_candidate],
        minlength=3,
    )
    tiers = {name: int(counts[code]) for name, code in tier_codes.items() if counts[code]}

    informed_models = {
        o.model_id
        for o, a in zip(forecasts.observations, forecasts.accuracies, strict=True)
        if a.tier in {"probe", "measured"}
    }
    prediction_cost = float(sum(r.cost_usd or 0.0 for r in rows if r.model_id in informed_models and plan_task.owns(r)))
    exhaustive = float(total_usd[fitting].sum())
    n = len(resolved)
    shown = (
        set(range(n))
        if n <= FULL_LISTING_LIMIT
        else {
            *frontier,
            recommended,
            *(original(c) for c in bands.values()),
            *(p["index"] for p in probes),
            *(int(fitting[i]) for i in np.argsort(-scores.accuracy_mean, kind="stable")[:TOP_ROWS_WHEN_LARGE]),
        }
    )
    listed_rows = [row(i) for i in sorted(shown)]
    recommendation_row: dict[str, Any] = {**row(recommended), "reason": choice.reason, "expected_regret": regret}
    result: dict[str, Any] = {
        "task": {**task.model_dump(mode="json"), "id": plan_task.task_id},
        "n_candidates": n,
        "candidates": listed_rows,
        "frontier": frontier,
        "recommendation": recommendation_row,
        "bands": {
            name: {"index": original(c), "accuracy": accuracy(original(c)), "total_usd": float(total_usd[original(c)])}
            for name, c in bands.items()
        },
        "probes_to_buy": probes,
        "prediction_cost_usd": prediction_cost,
        "exhaustive_cost_usd": exhaustive,
        "cost_reduction_ratio": cost_reduction_ratio(exhaustive, prediction_cost) if exhaustive > 0 else None,
        "tiers": tiers,
        "measurements_watermark": watermark,
    }
    if columns:
        result["candidate_columns"] = candidate_columns(resolved, costs, forecasts)
    # Every listed candidate gets a stored prediction, so a verification run of any of them (the UI's
    # "verify") is checked against what was predicted for it.
    predictions: list[dict[str, Any]] = []
    for listed in listed_rows:
        stored: Accuracy = forecasts.accuracies[int(forecasts.of_candidate[listed["index"]])]
        listed["prediction_id"] = new_id()
        predictions.append(
            {
                "id": listed["prediction_id"],
                "task_id": plan_task.task_id,
                "candidate_key": candidate_key(listed["candidate"]),
                "candidate": listed["candidate"],
                "tier": stored.tier,
                "predictor": stored.predictor,
                "accuracy_mean": stored.mean,
                "accuracy_lower": stored.lower,
                "accuracy_upper": stored.upper,
                "cost": listed["cost"],
            }
        )
    recommendation_row["prediction_id"] = next(r["prediction_id"] for r in listed_rows if r["index"] == recommended)
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


def plan_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What a re-prediction changed: the pick (by candidate), the forecasts that moved (largest first) and
    the candidates whose cost changed; empty lists and no pick when nothing did."""
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


def read_plan(*, session: Session, plan_id: str, take_slot: Callable[[], Callable[[], None]] | None = None) -> PlanRow:
    """A stored plan, re-predicted first when measurements changed since it was computed. A re-prediction
    that changes a forecast, a cost or the pick becomes the plan's next version, saying which measurements
    triggered it and what moved; one that changes nothing shown only records that it saw them.
    ``take_slot`` bounds re-predictions (it returns the release, or raises when none is free)."""
    plan = plans_repo.get_plan(session=session, plan_id=plan_id)
    seen = plan.result.get("measurements_watermark")
    if seen == plans_repo.measurements_watermark(session=session):
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
        return plans_repo.set_plan_result(
            session=session,
            plan=plan,
            result={**plan.result, "measurements_watermark": result["measurements_watermark"]},
        )
    trigger = _trigger(plans_repo.measurements_since(session=session, watermark=seen))
    return plans_repo.add_plan_version(
        session=session, plan=plan, result=result, predictions=predictions, trigger=trigger, changed=changed
    )


def plan_public(plan: PlanRow, *, versions: Sequence[PlanVersionRow], version: int | None = None) -> dict[str, Any]:
    """The plan as the API shows it: the latest version (or ``version``) and the history of versions."""
    shown = next((v for v in versions if v.version == version), None) if version is not None else None
    result = dict(shown.result if shown is not None else plan.result)
    result.pop("measurements_watermark", None)
    result.pop("measurements_version", None)
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
