"""The verification loop's summary: how far predictions were from what runs and imports measured.

For every prediction that a completed run verified (``runs.prediction_id`` → the run's measurement), and
every imported result's forecast made before it was stored (:mod:`api.import_pairs`):
accuracy error (mean absolute error and bias, predicted − measured), 90 % interval coverage (the share
of measured accuracies inside the predicted [lower, upper]), and the relative error of predicted peak
memory and step time where both sides have them and the run ran on the GPU kind that was predicted for —
grouped by predictor tier and method, by source (runs, imports), and overall; and per tier, over both, the coverage of split conformal intervals
recalibrated from the other verified pairs (:mod:`predictors.accuracy.conformal`), before and after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from predictors.accuracy.conformal import CALIBRATED_TIERS, ConformalIntervals, held_out_coverage
from storage.repositories import measurements as measurements_repo
from storage.repositories.measurements import CalibrationPair

__all__ = ["INTERVAL_LEVEL", "calibration_report", "conformal_from_pairs", "summarize"]

INTERVAL_LEVEL = 0.9
"""The level plans' stored intervals have unless asked otherwise (PRODUCT.md: 90 %)."""


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _same_hardware(predicted: dict[str, Any] | None, measured: dict[str, Any] | None) -> bool:
    """Whether a run ran on the GPU kind its prediction was for (measurements record the hardware used)."""
    planned = (predicted or {}).get("hardware") or {}
    used = (measured or {}).get("hardware") or {}
    return bool(planned.get("gpu")) and planned.get("gpu") == used.get("gpu")


def _summary(pairs: list[CalibrationPair]) -> dict[str, Any]:
    errors: list[float] = []
    inside: list[float] = []
    memory: list[float] = []
    step_time: list[float] = []
    for pair in pairs:
        prediction, measurement = pair.prediction, pair.measurement
        if prediction.accuracy_mean is not None and measurement.accuracy is not None:
            errors.append(prediction.accuracy_mean - measurement.accuracy)
        if None not in (prediction.accuracy_lower, prediction.accuracy_upper, measurement.accuracy):
            lower, upper = float(prediction.accuracy_lower or 0.0), float(prediction.accuracy_upper or 0.0)
            inside.append(1.0 if lower <= float(measurement.accuracy or 0.0) <= upper else 0.0)
        if not _same_hardware(prediction.candidate, measurement.candidate):
            continue  # a CPU run (or another GPU) says nothing about the predicted GPU's memory and step time
        predicted_memory = (prediction.cost or {}).get("peak_memory_bytes")
        if predicted_memory and measurement.peak_memory_bytes:
            memory.append(abs(float(predicted_memory) - measurement.peak_memory_bytes) / measurement.peak_memory_bytes)
        predicted_step = (prediction.cost or {}).get("step_time_s")
        if predicted_step and measurement.step_time_s:
            step_time.append(abs(float(predicted_step) - measurement.step_time_s) / measurement.step_time_s)
    return {
        "n": len(pairs),
        "n_accuracy": len(errors),
        "accuracy_mae": _mean([abs(e) for e in errors]),
        "accuracy_bias": _mean(errors),
        "n_interval": len(inside),
        "interval_coverage": _mean(inside),
        "n_memory": len(memory),
        "peak_memory_relative_error": _mean(memory),
        "n_step_time": len(step_time),
        "step_time_relative_error": _mean(step_time),
    }


def _with_interval(pairs: Iterable[CalibrationPair]) -> list[CalibrationPair]:
    """The pairs that have a predicted mean and interval and a measured accuracy."""
    return [
        pair
        for pair in pairs
        if None
        not in (
            pair.prediction.accuracy_mean,
            pair.prediction.accuracy_lower,
            pair.prediction.accuracy_upper,
            pair.measurement.accuracy,
        )
    ]


def _interval_pairs(pairs: list[CalibrationPair]) -> tuple[list[list[float]], list[str]]:
    """Columns (mean, lower, upper, measured) and tiers of :func:`_with_interval`'s pairs."""
    kept = _with_interval(pairs)
    columns = [
        [float(p.prediction.accuracy_mean or 0.0) for p in kept],
        [float(p.prediction.accuracy_lower or 0.0) for p in kept],
        [float(p.prediction.accuracy_upper or 0.0) for p in kept],
        [float(p.measurement.accuracy or 0.0) for p in kept],
    ]
    return columns, [p.prediction.tier for p in kept]


def conformal_from_pairs(pairs: Iterable[CalibrationPair]) -> ConformalIntervals:
    """Split conformal intervals per tier, calibrated on every verified pair (runs and imports) with an interval."""
    (mean, lower, upper, measured), tiers = _interval_pairs(list(pairs))
    return ConformalIntervals().fit(mean, lower, upper, measured, tiers)


def _conformal_summary(pairs: list[CalibrationPair]) -> list[dict[str, Any]]:
    """Per tier: coverage of the stored intervals, of conformal ones calibrated on the other pairs (held out,
    5 folds), and the scale all pairs give the tier's half-widths."""
    (mean, lower, upper, measured), tiers = _interval_pairs(pairs)
    if not tiers:
        return []
    sources = [pair.source for pair in _with_interval(pairs)]
    m, lo, hi, y = (np.asarray(v) for v in (mean, lower, upper, measured))
    before = (lo <= y) & (y <= hi)
    after = held_out_coverage(m, lo, hi, y, tiers, level=INTERVAL_LEVEL)
    conformal = ConformalIntervals().fit(m, lo, hi, y, tiers)
    tier_of = np.asarray(tiers, dtype=object)
    source_of = np.asarray(sources, dtype=object)
    rows = []
    for tier in sorted(set(tiers) & set(CALIBRATED_TIERS)):
        mask = tier_of == tier
        rows.append(
            {
                "tier": tier,
                "n_interval": int(mask.sum()),
                "n_interval_runs": int((mask & (source_of == "run")).sum()),
                "n_interval_imports": int((mask & (source_of == "import")).sum()),
                "coverage_before": float(before[mask].mean()),
                "coverage_after_held_out": float(after[mask].mean()),
                "half_width_scale": conformal.scale(tier, INTERVAL_LEVEL),
            }
        )
    return rows


def summarize(pairs: Iterable[CalibrationPair]) -> dict[str, Any]:
    """``{"overall": {...}, "sources": [{"source", ...}], "groups": [{"tier", "method", ...}],
    "conformal": [{"tier", ...}]}`` from (prediction, measurement) pairs."""
    pairs = list(pairs)
    groups: dict[tuple[str, str], list[CalibrationPair]] = defaultdict(list)
    by_source: dict[str, list[CalibrationPair]] = {"run": [], "import": []}
    for pair in pairs:
        groups[(pair.prediction.tier, pair.measurement.method_name)].append(pair)
        by_source[pair.source].append(pair)
    return {
        "interval_level": INTERVAL_LEVEL,
        "overall": _summary(pairs),
        "sources": [{"source": source, **_summary(members)} for source, members in by_source.items()],
        "groups": [
            {"tier": tier, "method": method, **_summary(members)} for (tier, method), members in sorted(groups.items())
        ],
        "conformal": _conformal_summary(pairs),
    }


def calibration_report(*, session: Session, task: str | None = None) -> dict[str, Any]:
    """The summary over every verified prediction (runs' and imports'), or over those of one task (its id or name)."""
    return summarize(measurements_repo.calibration_pairs(session=session, task=task))
