"""A plan's rows as a flat table (``GET /v1/plans/{id}/export``): one line per listed candidate, the same
columns in CSV and JSON, numbers in the API's units (USD, bytes, GPU-hours, accuracy as a fraction)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from api.candidates import candidate_label

__all__ = ["EXPORT_COLUMNS", "export_csv", "export_rows"]


def _part(row: Mapping[str, Any], *path: str) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _model(row: Mapping[str, Any]) -> Any:
    model = _part(row, "candidate", "model")
    return model.get("id") if isinstance(model, Mapping) else model


def _label(row: Mapping[str, Any]) -> Any:
    """The row's own label; a stored row without one is named as api/candidates.py names it."""
    candidate = row.get("candidate")
    return row.get("label") or (candidate_label(candidate) if isinstance(candidate, Mapping) else None)


def _method_settings(row: Mapping[str, Any]) -> str:
    method = _part(row, "candidate", "method")
    return (
        json.dumps({k: v for k, v in method.items() if k != "name"}, sort_keys=True)
        if isinstance(method, Mapping)
        else ""
    )


EXPORT_COLUMNS: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("index", lambda r: r.get("index")),
    ("label", _label),
    ("model", _model),
    ("method", lambda r: _part(r, "candidate", "method", "name")),
    ("method_settings", _method_settings),
    ("gpu", lambda r: _part(r, "candidate", "hardware", "gpu")),
    ("gpu_count", lambda r: _part(r, "candidate", "hardware", "count")),
    ("total_usd", lambda r: r.get("total_usd")),
    ("train_usd", lambda r: _part(r, "cost", "train_usd")),
    ("eval_usd", lambda r: _part(r, "cost", "eval_usd")),
    ("train_gpu_hours", lambda r: _part(r, "cost", "train_gpu_hours")),
    ("eval_gpu_hours", lambda r: _part(r, "cost", "eval_gpu_hours")),
    ("step_time_s", lambda r: _part(r, "cost", "step_time_s")),
    ("peak_memory_bytes", lambda r: _part(r, "cost", "peak_memory_bytes")),
    ("fits", lambda r: r.get("fits")),
    ("accuracy_mean", lambda r: _part(r, "accuracy", "mean")),
    ("accuracy_lower", lambda r: _part(r, "accuracy", "lower")),
    ("accuracy_upper", lambda r: _part(r, "accuracy", "upper")),
    ("tier", lambda r: _part(r, "accuracy", "tier")),
    ("predictor", lambda r: _part(r, "accuracy", "predictor")),
)
"""The exported columns, in order: the one list both formats (and the web UI's export links) use."""


def export_rows(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each listed candidate of a public plan (``GET /v1/plans/{id}``) as one flat row, plus whether it
    is on the frontier and whether it is the recommendation."""
    frontier = set(plan.get("frontier") or [])
    pick = _part(plan, "recommendation", "index")
    return [
        {
            **{name: value(row) for name, value in EXPORT_COLUMNS},
            "on_frontier": row.get("index") in frontier,
            "recommended": row.get("index") == pick,
        }
        for row in plan.get("candidates") or []
    ]


def export_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header line (RFC 4180 quoting; an empty cell for a missing value)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*(name for name, _ in EXPORT_COLUMNS), "on_frontier", "recommended"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
