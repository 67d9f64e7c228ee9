"""The prior tier's model, trained off the request path.

The prior's boosters learn from the shipped seed and own-run rows and the catalog's models (fitted once
per process and catalog); each measured task gets boosters of its own on those plus its measurements, so
one task's measurements never move another task's forecasts (:mod:`predictors.accuracy.prior`). A fit
takes seconds per changed task, so requests never wait for one: each
database keeps its last good prior with the version of the corpus it was fitted on (counts and latest
edits, one aggregate query per plan); a plan that finds the corpus changed starts a refit in a
background thread and is answered by the last good prior meanwhile. Only a database's very first fit
is waited for, with the request's pooled connection handed back first; a fit reads the corpus in its
own short session and holds no connection while it trains.

The prior sees each measurement as its own task describes it (a stored task's kind, choices and
training-set size; else what the measured candidate records), whatever plan asks, so one fit serves
every task; a plan's own measurements reach its forecasts through the measured and probe tiers and as
the prior's anchors, read fresh by each plan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.calibration import conformal_from_pairs
from predictors.accuracy.conformal import ConformalIntervals
from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.architecture import architecture_from_hf_config
from predictors.errors import InvalidInputError
from storage.models import MeasurementRow
from storage.repositories import catalog as catalog_repo
from storage.repositories import measurements as measurements_repo
from storage.repositories import plans as plans_repo
from storage.repositories import tasks as tasks_repo

__all__ = ["PRIORS", "FittedPrior", "PriorTrainer", "fit_prior", "prior_observation"]

logger = logging.getLogger("tunecast.priors")

DATABASES_KEPT = 4
"""Last good priors kept, one per database (a process serves one; the test suite makes many)."""


@dataclass(frozen=True, slots=True)
class FittedPrior:
    """A prior and the corpus version it was fitted on; ``prior`` is None when too few measurements exist
    to train one (forecasts are then uninformed). ``conformal`` recalibrates prior and probe intervals from
    the verified predictions of the same corpus (pass it to ``predict_accuracies``)."""

    version: str
    prior: PriorPredictor | None
    conformal: ConformalIntervals | None = None


def prior_observation(row: MeasurementRow, tasks: Mapping[str, Mapping[str, Any]]) -> Observation:
    """A measurement as the prior learns it: by its task's name, described by the stored task when it
    has one, else by what its candidate records."""
    candidate = row.candidate or {}
    task = tasks.get(row.task_id) if row.task_id is not None else None
    return make_observation(
        model_id=row.model_id,
        method=candidate.get("method") or {"name": row.method_name},
        task=row.task,
        task_kind=str(task["kind"] if task else candidate.get("task_kind", "multiple_choice")),
        n_choices=task["n_choices"] if task else candidate.get("n_choices"),
        training=candidate.get("training"),
        task_train_examples=task["train_examples"] if task else None,
        accuracy=row.accuracy,
        source=row.source,
        eval_examples=row.eval_examples,
        learning_rate=candidate.get("learning_rate"),
        optimizer_steps=candidate.get("optimizer_steps"),
    )


def fit_prior(models: Mapping[str, ModelInfo], measurements: Sequence[Observation]) -> PriorPredictor | None:
    """The prior on the shipped corpus plus ``measurements``, or None with too few rows (the prior sorts its
    rows itself, so equal content gives an equal model whatever the database)."""
    corpus = load_corpus_observations()
    try:
        return PriorPredictor(random_state=0).fit(FeatureBuilder(models), corpus, measurements)
    except InvalidInputError:
        logger.info("too few corpus rows (%d) for the prior; forecasts are uninformed", len(corpus))
        return None


def _version(session: Session) -> str:
    parts = measurements_repo.prior_corpus_version(session=session)
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _read_corpus(session: Session) -> tuple[str, dict[str, ModelInfo], list[Observation], ConformalIntervals]:
    """(version, catalog models, measurements as the prior learns them, conformal intervals from the verified
    predictions), read in one short session."""
    version = _version(session)
    models = {
        row.id: ModelInfo(
            id=row.id,
            architecture=architecture_from_hf_config(row.architecture),
            training_tokens=row.training_tokens,
            benchmarks=row.benchmarks or {},
        )
        for row in catalog_repo.list_models(session=session, limit=10**9, offset=0).items
    }
    tasks = {
        row.id: tasks_repo.task_values(row)
        for row in tasks_repo.list_tasks(session=session, limit=10**9, offset=0).items
    }
    rows = plans_repo.prediction_measurements(session=session)
    conformal = conformal_from_pairs(measurements_repo.calibration_pairs(session=session))
    return version, models, [prior_observation(row, tasks) for row in rows], conformal


class PriorTrainer:
    """The last good prior of each database, refitted in a background thread when its corpus changes.

    Attributes
    ----------
    n_fits : int
        Fits finished in this process (tests read it: an unchanged corpus is never refitted).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fitted: OrderedDict[str, FittedPrior] = OrderedDict()
        self._fitting: dict[str, threading.Thread] = {}
        self.n_fits = 0

    def current(self, session: Session) -> FittedPrior:
        """The prior of the corpus ``session`` sees when it is fitted; otherwise a refit is started (one at
        a time per database) and the last good prior answers, or, for the first fit, it is waited for."""
        engine = session.get_bind()
        assert isinstance(engine, Engine), "a plan's session is bound to an engine"
        database = engine.url.render_as_string(hide_password=False)
        version = _version(session)
        with self._lock:
            fitted = self._fitted.get(database)
            if fitted is not None and fitted.version == version:
                return fitted
            thread = self._fitting.get(database)
            if thread is None:
                thread = threading.Thread(
                    target=self._fit, args=(engine, database), name="tunecast-prior-fit", daemon=True
                )
                self._fitting[database] = thread
                thread.start()
        if fitted is not None:
            return fitted
        session.commit()  # ends the read-only transaction: its connection goes back to the pool while we wait
        thread.join()
        with self._lock:
            fitted = self._fitted.get(database)
        if fitted is None:
            raise RuntimeError("the prior could not be fitted (see the log of tunecast.priors)")
        return fitted

    def wait(self, timeout_s: float | None = None) -> None:
        """Until the fits running now have finished (tests, benchmarks)."""
        with self._lock:
            threads = list(self._fitting.values())
        for thread in threads:
            thread.join(timeout_s)

    def _fit(self, engine: Engine, database: str) -> None:
        _yield_cores()
        try:
            with Session(engine) as session:
                version, models, measurements, conformal = _read_corpus(session)
            fitted = FittedPrior(version, fit_prior(models, measurements), conformal)
        except Exception:
            logger.exception("fitting the prior failed; the last good prior keeps answering")
            with self._lock:
                self._fitting.pop(database, None)
            return
        with self._lock:
            self.n_fits += 1
            self._fitted[database] = fitted
            self._fitted.move_to_end(database)
            while len(self._fitted) > DATABASES_KEPT:
                self._fitted.popitem(last=False)
            self._fitting.pop(database, None)
        logger.info("prior fitted on corpus %s (%d measurements)", version, len(measurements))


def _yield_cores() -> None:
    """Let requests come first: this thread's own nice value (Linux; elsewhere the fit keeps its share)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FIT_NICENESS)


FIT_NICENESS = 10
"""How far below the request threads a fit runs (a refit of 10,000 rows takes a core for ~10 s)."""

PRIORS = PriorTrainer()
"""The process's trainer: every plan asks it for its prior."""
