"""The shipped corpus as observations, from two clearly separate sources.

* ``predictors/data/seed_measurements.csv`` — published results, each row traceable to its paper table;
* ``predictors/data/own_runs.csv`` — tunecast's own real runs (``source`` starts ``own-run:``), made on
  CPU by ``benchmarks/own_runs.py`` with the workers' run bodies, each row saying how it was made.
"""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from importlib import resources

from predictors.accuracy.features import Observation
from predictors.methods import METHODS

__all__ = [
    "FORECAST_BEFORE_COLUMNS",
    "OWN_RUNS_COLUMNS",
    "SEED_COLUMNS",
    "load_corpus_observations",
    "load_own_run_observations",
    "load_seed_observations",
]

SEED_COLUMNS = [
    "model",
    "model_hf_id",
    "method",
    "method_config_json",
    "task",
    "task_kind",
    "n_choices",
    "metric",
    "accuracy",
    "data_fraction",
    "train_examples",
    "shots",
    "epochs",
    "source",
    "citation",
    "table",
    "url",
]
FORECAST_BEFORE_COLUMNS = [
    "forecast_before_mean",
    "forecast_before_lower",
    "forecast_before_upper",
    "forecast_before_predictor",
    "forecast_before_date",
]
"""A target run's forecast from its task's probes with its 90 % interval, the predictor that made it and
the day, written down before the run executed (blank for a probe): what tunecast said before looking."""
OWN_RUNS_COLUMNS = [
    *SEED_COLUMNS,
    "n_test",
    "wall_clock_s",
    "learning_rate",
    "micro_batch_size",
    *FORECAST_BEFORE_COLUMNS,
]
"""An own run's row; a fine-tune's ``learning_rate`` and ``micro_batch_size`` are the ones it ran with
(blank for prompting runs), so a run at the defaults matches a candidate at the defaults only."""
OWN_RUN_SOURCE_PREFIX = "own-run:"
DEMONSTRATION_METHODS = frozenset(name for name, spec in METHODS.items() if spec.demonstrations)


def _optional_int(text: str) -> int | None:
    return int(float(text)) if text.strip() else None


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def load_seed_observations() -> tuple[Observation, ...]:
    """Every published row of the seed corpus, each traceable to its paper table (``source``)."""
    return _load("seed_measurements.csv")


@lru_cache(maxsize=1)
def load_own_run_observations() -> tuple[Observation, ...]:
    """tunecast's own real runs (``source`` = ``own-run:<task>/<run>``)."""
    rows = _load("own_runs.csv")
    if any(not row.source.startswith(OWN_RUN_SOURCE_PREFIX) for row in rows):
        raise ValueError(f"own_runs.csv: every source must start with {OWN_RUN_SOURCE_PREFIX!r}")
    return rows


def load_corpus_observations() -> tuple[Observation, ...]:
    """Both sources: what the prior tier trains on before any measurement of the user's own."""
    return (*load_seed_observations(), *load_own_run_observations())


def _load(name: str) -> tuple[Observation, ...]:
    try:
        text = resources.files("predictors.data").joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return ()
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        method = {"name": row["method"], **json.loads(row.get("method_config_json") or "{}")}
        shots = _optional_int(row.get("shots", ""))
        if shots is not None and row["method"] in DEMONSTRATION_METHODS:
            method.setdefault("shots", shots)
        rows.append(
            Observation(
                model_id=row["model"],
                method=method,
                task=row["task"],
                task_kind=row.get("task_kind") or "multiple_choice",
                n_choices=_optional_int(row.get("n_choices", "")),
                accuracy=float(row["accuracy"]),
                train_examples=_optional_int(row.get("train_examples", "")),
                epochs=_optional_float(row.get("epochs", "")),
                shots=shots,
                data_fraction=_optional_float(row.get("data_fraction", "")),
                source=row.get("source", ""),
                eval_examples=_optional_int(row.get("n_test") or ""),
                learning_rate=_optional_float(row.get("learning_rate") or ""),
                sequences_per_step=_optional_int(row.get("micro_batch_size") or ""),
            )
        )
    return tuple(rows)
