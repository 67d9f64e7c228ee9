"""Planning service: cost every candidate, forecast its accuracy with the best tier available, choose.

A plan is stored with its request, so it can be re-predicted when new measurements arrive (a plan
read after the measurement store changed is recomputed before it is returned).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from api.candidates import candidate_key, candidate_label
from api.costing import ResolvedCandidates, efficiency_calibration, resolve_candidates
from api.schemas.cost import Candidate, InlineModel
from api.schemas.plans import Grid, PlanRequest, TaskSpec, WeightsObjective
from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import Accuracy, predict_accuracies
from predictors.architecture import architecture_from_hf_config
from predictors.cost import CostEstimate, TrainingConfig, cost_reduction_ratio, estimate_costs
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
from storage.models import BaseModelRow, HardwareRow, MeasurementRow, PlanRow, PlanVersionRow, new_id
from storage.repositories import catalog as catalog_repo
from storage.repositories import plans as plans_repo
from storage.repositories import tasks as tasks_repo

__all__ = ["PlanTask", "compute_plan", "create_plan", "plan_changes", "plan_public", "read_plan"]

logger = logging.getLogger("tunecast.planning")

FULL_LISTING_LIMIT = 2000
TOP_ROWS_WHEN_LARGE = 500


@dataclass(frozen=True, slots=True)
class _PriorCacheEntry:
    prior: PriorPredictor | None
    builder: FeatureBuilder


_PRIOR_CACHE_SIZE = 4
_prior_cache: dict[str, _PriorCacheEntry] = {}
_prior_lock = threading.Lock()


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


def _outcome_groups(observations: Sequence[Observation]) -> list[int]:
    """One group per distinct forecast key: candidates that differ only in hardware share a true accuracy."""
    ids: dict[tuple[Any, ...], int] = {}
    return [ids.setdefault(o.key(), len(ids)) for o in observations]


def _catalog_infos(session: Session) -> dict[str, ModelInfo]:
    page = catalog_repo.list_models(session=session, limit=100_000, offset=0)
    return {
        row.id: ModelInfo(
            id=row.id,
            architecture=architecture_from_hf_config(row.architecture),
            training_tokens=row.training_tokens,
            benchmarks=row.benchmarks or {},
        )
        for row in page.items
    }


def _training_digest(models: dict[str, ModelInfo], observations: Sequence[Observation]) -> str:
    """What the prior learns from, hashed: the cache key (equal content, equal model, whatever the database)."""
    digest = hashlib.sha256()
    for model_id in sorted(models):
        info = models[model_id]
        digest.update(
            json.dumps(
                [model_id, info.training_tokens, dict(info.benchmarks), dict(info.architecture.hf_config)],
                sort_keys=True,
                default=str,
            ).encode()
        )
    for observation in observations:
        digest.update(repr(observation.key()).encode())
    return digest.hexdigest()


def _prior(session: Session, measurements: Sequence[Observation]) -> _PriorCacheEntry:
    """The prior trained on the seed corpus plus the store's measurements, cached by content."""
    models = _catalog_infos(session)
    training = [*load_corpus_observations(), *measurements]
    key = _training_digest(models, training)
    with _prior_lock:
        cached = _prior_cache.get(key)
        if cached is not None:
            return cached
        builder = FeatureBuilder(models)
        prior: PriorPredictor | None = None
        try:
            prior = PriorPredictor(random_state=0).fit(builder, training)
        except InvalidInputError:
            logger.info("too few measurements (%d) for the prior; forecasts are uninformed", len(training))
        entry = _PriorCacheEntry(prior=prior, builder=builder)
        if len(_prior_cache) >= _PRIOR_CACHE_SIZE:
            _prior_cache.pop(next(iter(_prior_cache)))
        _prior_cache[key] = entry
        return entry


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    data = candidate.model_dump(mode="json")
    if isinstance(candidate.model, InlineModel):
        data["model"] = {"id": candidate.model.id, "architecture": candidate.model.architecture}
    return data


def _observation(candidate: Candidate, task: TaskSpec) -> Observation:
    return make_observation(
        model_id=candidate.model_id,
        method=candidate.method,
        task=task.name,
        task_kind=task.kind,
        n_choices=task.n_choices,
        training=candidate.training.model_dump(),
        task_train_examples=task.train_examples,
    )


def _suggested_probe(candidate: Candidate, cost: CostEstimate) -> dict[str, Any]:
    """The cheapest run that would sharpen this candidate's forecast (COSMOS probes)."""
    name = candidate.method["name"]
    if METHODS[name].kind != "finetune":
        return {
            "kind": "icl_probe",
            "shots": [0, 1, 8],
            "estimated_usd": 3 * cost.eval_usd,
            "why": "three few-shot probes fit the ICL shot law (COSMOS Eq. 5)",
        }
    return {
        "kind": "finetune",
        "data_fraction": 0.1,
        "estimated_usd": 0.1 * cost.train_usd + cost.eval_usd,
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


def _canonical_grid(session: Session, grid: Grid, task: TaskSpec) -> Grid:
    """Check each grid axis once (errors point at the grid entry, not at an expanded candidate), fill every
    method's defaults, and drop repeats: equal configurations are one candidate with one forecast."""
    for j, model in enumerate(grid.models):
        if isinstance(model, str) and session.get(BaseModelRow, model) is None:
            raise InvalidInputError(f"grid.models[{j}]", f"unknown model {model!r}; see GET /v1/models")
        if isinstance(model, InlineModel):
            try:
                architecture_from_hf_config(model.architecture)
            except InvalidInputError as exc:
                field = f"grid.models[{j}].architecture{exc.field.removeprefix('architecture')}"
                raise InvalidInputError(field, exc.message) from None
    methods = [
        parse_method(method, field=f"grid.methods[{j}]").model_dump(mode="json")
        for j, method in enumerate(grid.methods)
    ]
    for j, hardware in enumerate(grid.hardware):
        if session.get(HardwareRow, hardware.gpu) is None:
            raise InvalidInputError(f"grid.hardware[{j}].gpu", f"unknown GPU {hardware.gpu!r}; see GET /v1/hardware")
    return grid.model_copy(
        update={
            "models": _unique(grid.models, lambda m: m if isinstance(m, str) else m.model_dump_json()),
            "methods": _unique(methods, lambda m: json.dumps(m, sort_keys=True)),
            "hardware": _unique(grid.hardware, lambda h: h),
            "training": _unique([_task_training(t, task) for t in grid.training], lambda t: t),
        }
    )


def _plan_candidates(session: Session, request: PlanRequest, task: TaskSpec) -> tuple[list[Candidate], str]:
    """The request's candidates in canonical form (method defaults and the task's data size filled in),
    and the field errors about them name."""
    if request.grid is not None:
        return _canonical_grid(session, request.grid, task).expand(), "grid.candidates"
    candidates = [
        candidate.model_copy(
            update={
                "method": parse_method(candidate.method, field=f"candidates[{i}].method").model_dump(mode="json"),
                "training": _task_training(candidate.training, task),
            }
        )
        for i, candidate in enumerate(request.candidates or [])
    ]
    return candidates, "candidates"


def _inline_models(resolved: ResolvedCandidates) -> dict[str, ModelInfo]:
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


def compute_plan(session: Session, request: PlanRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cost and forecast every candidate, choose, and say which probes to buy: ``(result, predictions)``,
    the predictions being what the plan stores to check against later runs."""
    plan_task = _task(session, request.task)
    task = plan_task.spec
    candidates, field = _plan_candidates(session, request, task)
    resolved: ResolvedCandidates = resolve_candidates(session=session, candidates=candidates, field=field)
    costs = estimate_costs(
        resolved.candidates, hardware=resolved.hardware, calibration=efficiency_calibration(session=session)
    )

    watermark = plans_repo.measurements_watermark(session=session)
    rows = plans_repo.prediction_measurements(session=session)
    measurements = [_observation_from_measurement(row, plan_task) for row in rows]
    entry = _prior(session, measurements)
    inline = _inline_models(resolved)
    prior = entry.prior.with_models(inline) if entry.prior is not None and inline else entry.prior
    observations = [_observation(c, task) for c in candidates]
    accuracies = predict_accuracies(
        observations, measurements=[*load_corpus_observations(), *measurements], prior=prior, level=request.interval
    )

    fits = np.array([c.fits for c in costs])
    if not fits.any():
        smallest = min(range(len(costs)), key=lambda i: costs[i].peak_memory_bytes)
        raise InfeasibleError(
            field,
            f"no candidate fits its hardware's memory; the smallest needs {costs[smallest].peak_memory_bytes / 2**30:.1f} GiB "
            f"({candidates[smallest].model_id} {candidates[smallest].method['name']} on {candidates[smallest].hardware.gpu})",
        )
    fitting = np.flatnonzero(fits)
    total_usd = np.array([c.total_usd for c in costs])
    gpu_hours = np.array([c.train_gpu_hours + c.eval_gpu_hours for c in costs])
    scores = CandidateScores.from_lists(
        cost_usd=total_usd[fitting],
        gpu_hours=gpu_hours[fitting],
        accuracy_mean=[accuracies[i].mean for i in fitting],
        accuracy_lower=[accuracies[i].lower for i in fitting],
        accuracy_upper=[accuracies[i].upper for i in fitting],
        interval_level=request.interval,
        outcome_group=_outcome_groups([observations[i] for i in fitting]),
    )

    def original(choice: Choice) -> int:
        return int(fitting[choice.index])

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
    regret = expected_regret(scores, choice)
    frontier = [int(fitting[i]) for i in pareto_frontier(scores.cost_usd, scores.accuracy_mean)]

    def row(i: int) -> dict[str, Any]:
        return {
            "index": i,
            "candidate": _candidate_json(candidates[i]),
            "cost": costs[i].model_dump(mode="json"),
            "accuracy": accuracies[i].as_dict(),
            "fits": bool(fits[i]),
            "total_usd": float(total_usd[i]),
        }

    recommended = original(choice)
    probes: list[dict[str, Any]] = [
        {
            "index": int(fitting[index]),
            "probability_beats_recommendation": probability,
            "expected_accuracy_gain": gain,
            "probe": _suggested_probe(candidates[int(fitting[index])], costs[int(fitting[index])]),
        }
        for index, probability, gain in probe_value(scores, choice)
    ]
    tiers: dict[str, int] = {}
    for forecast in accuracies:
        tiers[forecast.tier] = tiers.get(forecast.tier, 0) + 1

    informed_models = {observations[i].model_id for i, a in enumerate(accuracies) if a.tier in {"probe", "measured"}}
    prediction_cost = float(sum(r.cost_usd or 0.0 for r in rows if r.model_id in informed_models and plan_task.owns(r)))
    exhaustive = float(total_usd[fitting].sum())
    shown = (
        set(range(len(candidates)))
        if len(candidates) <= FULL_LISTING_LIMIT
        else {
            *frontier,
            recommended,
            *(original(c) for c in bands.values()),
            *(p["index"] for p in probes),
            *(int(fitting[i]) for i in np.argsort(-scores.accuracy_mean)[:TOP_ROWS_WHEN_LARGE]),
        }
    )
    listed_rows = [row(i) for i in sorted(shown)]
    recommendation_row: dict[str, Any] = {**row(recommended), "reason": choice.reason, "expected_regret": regret}
    result: dict[str, Any] = {
        "task": {**task.model_dump(mode="json"), "id": plan_task.task_id},
        "n_candidates": len(candidates),
        "candidates": listed_rows,
        "frontier": frontier,
        "recommendation": recommendation_row,
        "bands": {
            name: {
                "index": original(c),
                "accuracy": accuracies[original(c)].as_dict(),
                "total_usd": float(total_usd[original(c)]),
            }
            for name, c in bands.items()
        },
        "probes_to_buy": probes,
        "prediction_cost_usd": prediction_cost,
        "exhaustive_cost_usd": exhaustive,
        "cost_reduction_ratio": cost_reduction_ratio(exhaustive, prediction_cost) if exhaustive > 0 else None,
        "tiers": tiers,
        "measurements_watermark": watermark,
    }
    # Every listed candidate gets a stored prediction, so a verification run of any of them (the UI's
    # "verify") is checked against what was predicted for it.
    predictions: list[dict[str, Any]] = []
    for listed in listed_rows:
        stored: Accuracy = accuracies[listed["index"]]
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


def create_plan(*, session: Session, request: PlanRequest) -> PlanRow:
    result, predictions = compute_plan(session, request)
    stored_request = request.model_dump(mode="json", exclude_none=True)
    task_id = result["task"].get("id")
    if task_id:
        stored_request["task_id"] = task_id
    return plans_repo.create_plan(
        session=session, request=stored_request, result=result, predictions=predictions, task_id=task_id
    )


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


def read_plan(*, session: Session, plan_id: str) -> PlanRow:
    """A stored plan, re-predicted first when measurements changed since it was computed. A re-prediction
    that changes a forecast, a cost or the pick becomes the plan's next version, saying which measurements
    triggered it and what moved; one that changes nothing shown only records that it saw them."""
    plan = plans_repo.get_plan(session=session, plan_id=plan_id)
    seen = plan.result.get("measurements_watermark")
    if seen == plans_repo.measurements_watermark(session=session):
        return plan
    request = PlanRequest.model_validate({k: v for k, v in plan.request.items() if k != "task_id"})
    result, predictions = compute_plan(session, request)
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
