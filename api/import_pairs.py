"""Imported results as calibration pairs: each one's forecast, made before it joins the evidence.

A run is checked against the prediction its plan stored before it ran. An imported result (a paper's
table, the user's own past fine-tunes) has no such prediction, so before it is stored we ask what a plan
would have said of its candidate from the evidence that existed then (:func:`api.planning.predictions_as_planned`:
the same evidence, prior, tiers and level) and store that as its prediction. None of an import's rows
sees another (all are forecast before any is stored), so every pair is out of sample and conformal
calibration (:mod:`predictors.accuracy.conformal`) may score it like a run's.

Bounded: at most :data:`MAX_FORECASTS_PER_IMPORT` rows of one import are forecast, in one batched
predict call per task (the rest are stored without a pair). Idempotent: a pair is keyed by the row's
content (:func:`measurement_key`), so rows imported again, under a new ``Idempotency-Key`` or none, add
no second pair (the middleware already answers a repeated key with the first answer).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.planning import predictions_as_planned
from api.schemas.cost import Candidate
from api.schemas.tasks import TaskSpec
from predictors.errors import InvalidInputError
from predictors.methods import parse_method
from storage.errors import NotFoundError
from storage.models import MeasurementRow, new_id
from storage.repositories import catalog as catalog_repo
from storage.repositories import measurements as measurements_repo
from storage.repositories import tasks as tasks_repo

__all__ = ["MAX_FORECASTS_PER_IMPORT", "import_measurements", "measurement_key"]

logger = logging.getLogger("tunecast.import_pairs")

MAX_FORECASTS_PER_IMPORT = 1000
"""Rows of one import given an out-of-sample forecast (the first ones in the body); the rest are stored
without one. 1,000 forecasts take about a second (BENCHMARKS.md)."""

_KEYED_FIELDS = ("task", "candidate", "accuracy", "source", "seed", "eval_examples")


def measurement_key(values: Mapping[str, Any]) -> str:
    """What makes two imported rows "the same result": task, candidate, accuracy, source, seed and eval size."""
    canonical = json.dumps({k: values.get(k) for k in _KEYED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _model_id(candidate: Mapping[str, Any]) -> str:
    model = candidate.get("model")
    return str(model.get("id") if isinstance(model, Mapping) else model)


def _plan_candidate(candidate: Mapping[str, Any], gpus: set[str]) -> Candidate | None:
    """The candidate as a plan would be asked it (catalog model, method, training, evaluation; its GPU when
    the catalog has it), or None when a plan could not ask it."""
    method = candidate.get("method")
    fields: dict[str, Any] = {
        "model": _model_id(candidate),
        "method": {"name": method} if isinstance(method, str) else method,
        **{k: candidate[k] for k in ("training", "evaluation") if isinstance(candidate.get(k), Mapping)},
    }
    hardware = candidate.get("hardware")
    if isinstance(hardware, Mapping) and hardware.get("gpu") in gpus:
        fields["hardware"] = {k: hardware[k] for k in ("gpu", "count") if k in hardware}
    try:
        parse_method(fields["method"], field="candidate.method")
        return Candidate.model_validate(fields)
    except (ValidationError, InvalidInputError, TypeError):
        return None


def _plan_task(session: Session, values: Mapping[str, Any]) -> TaskSpec | str | None:
    """A stored task by its reference; else the task as the measurement describes it (its candidate's
    ``task_kind`` and ``n_choices``, as the prior reads it), or None when that is no valid task."""
    reference = str(values["task"])
    if tasks_repo.find_task(session=session, reference=reference) is not None:
        return reference
    candidate = values["candidate"]
    try:
        return TaskSpec(
            name=reference, kind=candidate.get("task_kind", "multiple_choice"), n_choices=candidate.get("n_choices")
        )
    except ValidationError:
        return None


def _to_forecast(session: Session, values: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """(index, :func:`measurement_key`) of the rows that get a forecast: with an accuracy, not already paired
    (by content, here or before); the first :data:`MAX_FORECASTS_PER_IMPORT`."""
    keys = [measurement_key(v) for v in values]
    taken = measurements_repo.paired_measurement_keys(session=session, keys=keys)
    chosen = []
    for i, (item, key) in enumerate(zip(values, keys, strict=True)):
        if item.get("accuracy") is not None and key not in taken:
            taken.add(key)
            chosen.append((i, key))
    return chosen[:MAX_FORECASTS_PER_IMPORT]


def _forecasts(session: Session, values: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Out-of-sample predictions for the chosen rows, each keyed to its row's ``id``; one batched forecast per task."""
    chosen = _to_forecast(session, values)
    known_models = set(
        catalog_repo.models_by_id(session=session, model_ids={_model_id(values[i]["candidate"]) for i, _ in chosen})
    )
    gpus = set(catalog_repo.hardware_ids(session=session))
    groups: dict[str, tuple[TaskSpec | str, list[tuple[int, str, Candidate]]]] = {}
    tasks: dict[str, TaskSpec | str | None] = {}
    for i, key in chosen:
        candidate = _plan_candidate(values[i]["candidate"], gpus)
        described = json.dumps(
            [values[i]["task"], *(values[i]["candidate"].get(k) for k in ("task_kind", "n_choices"))]
        )
        if described not in tasks:
            tasks[described] = _plan_task(session, values[i])
        task = tasks[described]
        if candidate is None or task is None or candidate.model_id not in known_models:
            continue
        group = task if isinstance(task, str) else task.model_dump_json()
        groups.setdefault(group, (task, []))[1].append((i, key, candidate))
    predictions = []
    for task, members in groups.values():
        try:
            planned = predictions_as_planned(session, task=task, candidates=[c for _, _, c in members])
        except (InvalidInputError, NotFoundError) as exc:
            logger.warning("imported rows of task %r got no forecast: %s", task, exc)
            continue
        for (i, key, _), prediction in zip(members, planned, strict=True):
            predictions.append({**prediction, "measurement_id": values[i]["id"], "measurement_key": key})
    return predictions


def import_measurements(*, session: Session, values: Sequence[Mapping[str, Any]]) -> list[MeasurementRow]:
    """Store imported measurements, each new one (up to the bound) with the forecast a plan would have made
    for it just before: a calibration pair whose prediction saw none of this import."""
    rows = [{**v, "id": new_id()} for v in values]
    predictions = _forecasts(session, rows)
    return measurements_repo.create_measurements(session=session, values=rows, predictions=predictions)
