"""How every run kind runs: one delivery of ``run_id``, from the database row to its measurement.

``execute_run`` is the shape STYLE.md §4 asks for: reload the row, exit if it is finished or cancelled,
count the delivery (a run whose workers died ``MAX_DELIVERIES`` times is failed, not looped), check the
run is predicted to fit this worker (else hand it back to the queue), run the kind's body with a
:class:`RunContext` that writes progress to the database and checks the cancel flag between steps,
then write the result and exactly one measurement in one transaction. Out-of-memory is a result
(``fits: false``), transient database/broker errors are retried, anything else fails the run.

Each delivery takes a lease on its run (``TUNECAST_RUN_LEASE_S``) and renews it from a thread every third
of it, and with every progress report: a delivery of a run another delivery holds is refused, and one
that lost its lease (its renewals stopped long enough for the run to be re-queued and taken) stops at its
next step and records nothing (:mod:`storage.repositories.runs`).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.catalogs import load_models_catalog
from storage.db import session_scope
from storage.model_files import PathNotAllowedError, allowed_path, local_models
from storage.models import BaseModelRow, DatasetRow, RunRow, TaskRow, WorkerRow, new_id
from storage.repositories import datasets as datasets_repo
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.repositories.datasets import LoadedDataset
from storage.settings import Settings, get_settings
from workers.app import VISIBILITY_TIMEOUT_S
from workers.checkpoints import checkpoint_path, delete_checkpoint
from workers.errors import RunCancelledError, RunInputError, RunLeaseLostError, RunTimeLimitError, TransientRunError
from workers.hardware import WorkerHardware, detect_hardware, measured_hardware
from workers.presence import current_worker

__all__ = [
    "MAX_DELIVERIES",
    "MAX_HANDOFFS",
    "MAX_TRANSIENT_RETRIES",
    "RunContext",
    "RunOutcome",
    "execute_run",
    "is_out_of_memory",
    "model_id_of",
    "resolve_model",
    "time_limit_s",
]

logger = logging.getLogger("tunecast.workers")

MAX_DELIVERIES = 3
"""Deliveries of one run before it is failed: the first plus redeliveries after crashed workers."""
MAX_HANDOFFS = 8
MAX_TRANSIENT_RETRIES = 3
PROGRESS_INTERVAL_S = 0.25
FIT_MARGIN = 0.95
MAX_RUN_S = VISIBILITY_TIMEOUT_S - 3600
"""No run outlives the broker's visibility timeout (Redis would hand its message out again: the lease
refuses that delivery, but a run that long is stuck, not training)."""
PREDICTED_TIME_MARGIN = 5.0
MIN_TIME_LIMIT_S = 600.0


def time_limit_s(options: dict[str, Any], predicted: dict[str, Any], hardware: WorkerHardware) -> float:
    """``options.time_limit_s`` if given; on the GPU the prediction was made for, 5x the predicted
    training time (at least 10 minutes); never above :data:`MAX_RUN_S`."""
    if options.get("time_limit_s"):
        return min(float(options["time_limit_s"]), MAX_RUN_S)
    step_time_s, steps = predicted.get("step_time_s"), options.get("steps")
    if hardware.device == "cuda" and step_time_s and steps:
        return min(max(MIN_TIME_LIMIT_S, PREDICTED_TIME_MARGIN * float(step_time_s) * int(steps)), MAX_RUN_S)
    return MAX_RUN_S


@dataclass
class RunOutcome:
    """What a run kind returns: its result fields and the measurement values (task/model/method/…)."""

    result: dict[str, Any]
    measurement: dict[str, Any]


@dataclass
class RunContext:
    """What a run kind body gets: the run's inputs and a ``progress`` call that also checks cancel."""

    settings: Settings
    run_id: str
    kind: str
    candidate: dict[str, Any]
    options: dict[str, Any]
    task_id: str | None
    task_name: str
    predicted: dict[str, Any]
    dataset_row: DatasetRow
    dataset: LoadedDataset
    hardware: WorkerHardware
    model: dict[str, Any] = field(default_factory=dict)  # {id, path, format, source, architecture?}: what loads
    deadline: float = field(default=float("inf"))
    lease: runs_repo.Lease | None = None
    lease_lost: threading.Event = field(default_factory=threading.Event)
    _last_report: float = field(default=0.0)

    @property
    def labels(self) -> list[Any] | None:
        labels = self.dataset_row.split.get("labels")
        return list(labels) if labels is not None else None

    def progress(
        self, *, step: int, total: int, loss: float | None = None, phase: str = "train", force: bool = False
    ) -> None:
        """Record progress (throttled), renewing the lease; stop with :class:`RunCancelledError` if a cancel
        was requested, with :class:`RunLeaseLostError` if another delivery took the run over and with
        :class:`RunTimeLimitError` past the deadline."""
        now = time.monotonic()
        if now > self.deadline:
            raise RunTimeLimitError(f"past its time limit at step {step} of {total} ({phase})")
        if self.lease_lost.is_set():
            raise RunLeaseLostError(f"run {self.run_id}: lease lost at step {step}")
        if not force and step not in (1, total) and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        progress = {"step": step, "total": total, "loss": loss, "phase": phase}
        with session_scope(self.settings.database_url) as session:
            answer = runs_repo.report_progress(session=session, run_id=self.run_id, progress=progress, lease=self.lease)
        self._obey(answer, step)

    def resumed(self, step: int) -> None:
        """Say this delivery goes on from the checkpoint at ``step`` (an event of the run)."""
        with session_scope(self.settings.database_url) as session:
            self._obey(runs_repo.note_resumed(session=session, run_id=self.run_id, step=step, lease=self.lease), step)

    def _obey(self, answer: runs_repo.ProgressAnswer, step: int) -> None:
        if answer == "lost":
            self.lease_lost.set()
            raise RunLeaseLostError(f"run {self.run_id}: lease lost at step {step}")
        if answer == "cancel":
            raise RunCancelledError(self.run_id)

    @property
    def checkpoint_path(self) -> Path:
        return checkpoint_path(self.settings, self.run_id)

    def checkpoint_due(self, step: int, total: int) -> bool:
        """Whether to save a checkpoint after ``step`` (every ``TUNECAST_CHECKPOINT_EVERY_STEPS``, not the last)."""
        every = self.settings.checkpoint_every_steps
        return every > 0 and step % every == 0 and step < total


RunBody = Callable[[RunContext], RunOutcome]


OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")
"""CUDA's "CUDA out of memory", the CPU allocator's "DefaultCPUAllocator: can't allocate memory", ENOMEM."""


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure on the device or the host: the candidate does not fit this worker (a result,
    not a crash)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError | OSError) and any(text in message for text in OUT_OF_MEMORY_MESSAGES)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientRunError | OperationalError | ConnectionError | TimeoutError):
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


@dataclass(frozen=True, slots=True)
class _PreparedRun:
    """What a delivery that will run needs, read in the transaction that took the run."""

    values: dict[str, Any]  # candidate, options, task_id, task_name, predicted
    dataset_row: DatasetRow
    model: dict[str, Any]
    lease: runs_repo.Lease


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (of this machine) still runs; a zombie does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


@contextmanager
def _keep_lease(context: RunContext) -> Iterator[None]:
    """Renew the lease every third of it while the body runs (through model loading and long steps alike);
    when it was lost, the body's next progress call stops the run."""
    lease, stop = context.lease, threading.Event()

    def renew() -> None:
        assert lease is not None
        while not stop.wait(lease.seconds / 3):
            try:
                with session_scope(context.settings.database_url) as session:
                    answer = runs_repo.renew_lease(session=session, run_id=context.run_id, lease=lease)
            except Exception:
                logger.exception("run %s: could not renew its lease", context.run_id)
                continue
            if answer == "lost":
                logger.warning("run %s: lease lost (another delivery took the run over); stopping", context.run_id)
                context.lease_lost.set()
                return

    thread = threading.Thread(target=renew, name=f"tunecast-lease-{context.run_id}", daemon=True)
    if lease is not None:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=lease.seconds if lease is not None else None)


def execute_run(task: Any, run_id: str, kind: str, body: RunBody, *, settings: Settings | None = None) -> str:
    """Run one delivery of ``run_id``; returns the run's status afterwards (for logs and tests)."""
    settings = settings or get_settings()
    hardware = detect_hardware()
    prepared = _prepare(task, run_id, settings, hardware)
    if isinstance(prepared, str):
        return prepared
    return _run(task, run_id, kind, body, settings, hardware, prepared)


def _hand_back(task: Any, session: Session, row: RunRow, reason: str) -> str:
    """Give the run back to its queue for another worker (failed after :data:`MAX_HANDOFFS`)."""
    if runs_repo.hand_off(session=session, run_id=row.id, reason=reason, max_handoffs=MAX_HANDOFFS):
        if task is not None:
            task.apply_async(args=[row.id], queue=row.queue)
        return runs_repo.QUEUED
    return runs_repo.FAILED


def _prepare(task: Any, run_id: str, settings: Settings, hardware: WorkerHardware) -> _PreparedRun | str:
    """Take the delivery and check the run can go ahead here: predicted to fit this worker's memory, with a
    dataset, and its model's weights on this worker (else, when another live worker has them, back to the
    queue). Returns the run's status when it does not run here."""
    worker_name, boot_id = current_worker()
    lease = runs_repo.Lease(token=new_id(), seconds=settings.run_lease_s, pid=os.getpid())
    with session_scope(settings.database_url) as session:
        decision, row = runs_repo.begin_delivery(
            session=session,
            run_id=run_id,
            worker=worker_name or hardware.hostname,
            worker_boot=boot_id if worker_name else None,
            max_deliveries=MAX_DELIVERIES,
            lease=lease,
            pid_alive=pid_alive,
        )
        if decision != "run" or row is None:
            held = f", held by {row.lease_owner}" if decision == "held" and row is not None else ""
            logger.warning("run %s: %s (%s%s)", run_id, decision, row.status if row else "no such run", held)
            return row.status if row else "missing"
        predicted_bytes = int(row.predicted.get("peak_memory_bytes") or 0)
        if predicted_bytes and predicted_bytes > FIT_MARGIN * hardware.memory_bytes:
            return _hand_back(
                task,
                session,
                row,
                f"predicted {predicted_bytes} bytes > {hardware.memory_bytes} on {hardware.name} ({hardware.device})",
            )
        failure: str | None = "run has no dataset" if row.dataset_id is None else None
        model: dict[str, Any] = {}
        if failure is None:
            try:
                model = resolve_model(session=session, settings=settings, candidate=dict(row.candidate))
            except ModelNotHereError as exc:
                if any(exc.model_id in {m.get("id") for m in w.models or []} for w in _other_live_workers(session)):
                    return _hand_back(task, session, row, str(exc))
                failure = str(exc)
            except RunInputError as exc:
                failure = str(exc)
        if failure is not None:
            info = {"worker_hardware": hardware.as_dict()}
            runs_repo.finish_run(
                session=session, run_id=run_id, status=runs_repo.FAILED, result=info, error=failure, lease=lease
            )
            return runs_repo.FAILED
        task_row = session.get(TaskRow, row.task_id) if row.task_id else None
        return _PreparedRun(
            values={
                "candidate": dict(row.candidate),
                "options": dict(row.options),
                "task_id": row.task_id,
                "task_name": task_row.name if task_row is not None else (row.task_id or ""),
                "predicted": dict(row.predicted),
            },
            dataset_row=datasets_repo.get_dataset(session=session, dataset_id=str(row.dataset_id)),
            model=model,
            lease=lease,
        )


def _other_live_workers(session: Session) -> list[WorkerRow]:
    name, _boot = current_worker()
    return [w for w in workers_repo.live_workers(session=session) if w.name != name]


def _run(
    task: Any,
    run_id: str,
    kind: str,
    body: RunBody,
    settings: Settings,
    hardware: WorkerHardware,
    prepared: _PreparedRun,
) -> str:
    """The run kind's body, under its lease, and the run's end: its result and measurement, a cancel, a
    failure, an OOM (a result: ``fits: false``), a transient error (retried) or a lost lease (nothing)."""
    values = prepared.values
    worker_info: dict[str, Any] = {
        "worker_hardware": hardware.as_dict(),
        "model": {k: v for k, v in prepared.model.items() if k != "architecture"},
    }
    finish = functools.partial(_finish, settings, run_id, prepared.lease)
    try:
        context = RunContext(
            settings=settings,
            run_id=run_id,
            kind=kind,
            candidate=values["candidate"],
            options=values["options"],
            task_id=values["task_id"],
            task_name=values["task_name"],
            predicted=values["predicted"],
            dataset_row=prepared.dataset_row,
            dataset=datasets_repo.load_dataset(prepared.dataset_row),
            hardware=hardware,
            model=prepared.model,
            lease=prepared.lease,
        )
        limit_s = time_limit_s(context.options, context.predicted, hardware)
        context.deadline = time.monotonic() + limit_s
        worker_info["time_limit_s"] = limit_s
        with _keep_lease(context):
            outcome = body(context)
    except RunLeaseLostError as exc:
        logger.warning("%s: another delivery holds the run now; this one records nothing", exc)
        return _status(settings, run_id)
    except RunCancelledError:
        return finish(runs_repo.CANCELLED, {**worker_info, "cancelled": True}, None, None)
    except RunInputError as exc:
        return finish(runs_repo.FAILED, worker_info, str(exc), None)
    except RunTimeLimitError as exc:
        return finish(runs_repo.FAILED, worker_info, f"stopped {exc} of {worker_info['time_limit_s']:.0f} s", None)
    except Exception as exc:
        if is_out_of_memory(exc):
            logger.warning("run %s ran out of memory: %s", run_id, exc)
            result = {**worker_info, "fits": False, "out_of_memory": str(exc)[:2000]}
            return finish(runs_repo.SUCCEEDED, result, None, _oom_measurement(values, kind, hardware))
        if _transient(exc) and task is not None and task.request.retries < MAX_TRANSIENT_RETRIES:
            _retry(task, settings, run_id, prepared.lease, exc)
        logger.exception("run %s failed", run_id)
        return finish(runs_repo.FAILED, worker_info, f"{type(exc).__name__}: {exc}"[:4000], None)
    return finish(runs_repo.SUCCEEDED, {**worker_info, **outcome.result}, None, outcome.measurement)


def _retry(task: Any, settings: Settings, run_id: str, lease: runs_repo.Lease, exc: Exception) -> None:
    """Back to the queue for Celery's retry of a transient error, unless this delivery lost the run."""
    with session_scope(settings.database_url) as session:
        reason = f"{type(exc).__name__}: {exc}"
        if not runs_repo.requeue_for_retry(session=session, run_id=run_id, reason=reason, lease=lease):
            logger.warning("run %s: transient %r after it lost its lease; not retried here", run_id, exc)
            return
        attempts = runs_repo.get_run(session=session, run_id=run_id).attempts
    logger.warning("run %s: transient %r, retrying (deliveries so far %s)", run_id, exc, attempts)
    raise task.retry(exc=exc, countdown=2**task.request.retries) from exc


def _status(settings: Settings, run_id: str) -> str:
    with session_scope(settings.database_url) as session:
        return runs_repo.get_run(session=session, run_id=run_id).status


def _oom_measurement(values: dict[str, Any], kind: str, hardware: WorkerHardware) -> dict[str, Any]:
    candidate = values["candidate"]
    method = candidate.get("method") or {}
    return {
        "task": values["task_name"],
        "task_id": values["task_id"],
        "model_id": model_id_of(candidate),
        "method_name": str(method.get("name", kind)) if isinstance(method, dict) else str(method),
        "candidate": {**candidate, "hardware": measured_hardware(hardware), "run_kind": kind, "fits": False},
        "accuracy": None,
    }


def model_id_of(candidate: dict[str, Any]) -> str:
    model = candidate.get("model")
    return str(model.get("id", "")) if isinstance(model, dict) else str(model or "")


class ModelNotHereError(RunInputError):
    """No weights for ``model_id`` under this worker's roots (another worker may have them)."""

    def __init__(self, model_id: str, settings: Settings) -> None:
        roots = ", ".join(str(root) for root in settings.model_roots)
        super().__init__(
            "candidate.model",
            f"model {model_id!r} is not on this worker: put its weights at <root>/{model_id}/ (a Hugging Face "
            f"directory or one .gguf file) under a model root ({roots}; TUNECAST_MODEL_DIRS)",
        )
        self.model_id = model_id


def resolve_model(*, session: Session, settings: Settings, candidate: dict[str, Any]) -> dict[str, Any]:
    """The weights this worker loads for the candidate's model, and the architecture they must have.

    A given ``model.path`` must lie inside this worker's model roots or be a packaged model (symlinks
    followed); without one, the model id resolves under the roots (:mod:`storage.model_files`). The
    expected architecture is the one the candidate gives, else the catalog's for that id (None for a model
    of the user's own naming, which nothing can check)."""
    model = candidate.get("model")
    spec: dict[str, Any] = dict(model) if isinstance(model, dict) else {"id": str(model or "")}
    model_id = str(spec.get("id") or "")
    if spec.get("path"):
        try:
            path = allowed_path(settings, str(spec["path"]), resolve=True)
        except PathNotAllowedError as exc:
            raise RunInputError("candidate.model.path", str(exc)) from None
        if not path.exists():
            raise RunInputError("candidate.model.path", f"{str(path)!r} does not exist on this worker")
        spec.update(path=str(path), source="path")
    else:
        local = local_models(settings).get(model_id)
        if local is None:
            raise ModelNotHereError(model_id, settings)
        spec.update(path=local.path, format=local.format, source=local.source)
    if not isinstance(spec.get("architecture"), dict):
        spec["architecture"] = catalog_architecture(session=session, model_id=model_id)
    return spec


def catalog_architecture(*, session: Session, model_id: str) -> dict[str, Any] | None:
    """The config of a model the database knows (the catalog and imported models), else of one the shipped
    catalog lists (a worker may run against a database not yet seeded); None for any other id."""
    row = session.get(BaseModelRow, model_id) if model_id else None
    if row is not None:
        return dict(row.architecture)
    entry = next((e for e in load_models_catalog() if e["id"] == model_id), None)
    return dict(entry["architecture"]) if entry is not None else None


def _finish(
    settings: Settings,
    run_id: str,
    lease: runs_repo.Lease,
    status: str,
    result: dict[str, Any],
    error: str | None,
    measurement: dict[str, Any] | None,
) -> str:
    """Record the run's end if this delivery still holds it; the checkpoint goes once the run ended."""
    with session_scope(settings.database_url) as session:
        row = runs_repo.finish_run(
            session=session,
            run_id=run_id,
            status=status,
            result=result,
            error=error,
            measurement=measurement,
            lease=lease,
        )
        final = row.status
    if final in runs_repo.TERMINAL:
        delete_checkpoint(settings, run_id)
    else:
        logger.warning("run %s: its lease was lost before it finished (%s); nothing recorded here", run_id, status)
    return final
