"""The shipped seed corpus of published results (``predictors/data/seed_measurements.csv``) as observations."""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from importlib import resources

from predictors.accuracy.features import Observation

__all__ = ["load_seed_observations"]


def _optional_int(text: str) -> int | None:
    return int(float(text)) if text.strip() else None


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def load_seed_observations() -> tuple[Observation, ...]:
    """Every row of the seed corpus, each traceable to its paper table (``source``)."""
    try:
        text = resources.files("predictors.data").joinpath("seed_measurements.csv").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return ()
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        method = {"name": row["method"], **json.loads(row.get("method_config_json") or "{}")}
        shots = _optional_int(row.get("shots", ""))
        if shots is not None and row["method"] in {"icl", "rag_icl"}:
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
            )
        )
    return tuple(rows)
