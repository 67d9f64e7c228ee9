"""Calibration: predicted-vs-measured error and interval coverage (``GET /v1/calibration``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Calibration", "CalibrationGroup", "CalibrationSource", "CalibrationSummary", "ConformalTier"]


class CalibrationSummary(BaseModel):
    n: int = Field(description="Predictions verified: by a completed run, or imported results' forecasts.")
    n_accuracy: int
    accuracy_mae: float | None = Field(description="Mean |predicted − measured| accuracy.")
    accuracy_bias: float | None = Field(description="Mean predicted − measured accuracy.")
    n_interval: int
    interval_coverage: float | None = Field(description="Share of measured accuracies inside the predicted interval.")
    n_memory: int
    peak_memory_relative_error: float | None = Field(description="Mean |predicted − measured| / measured peak memory.")
    n_step_time: int
    step_time_relative_error: float | None


class CalibrationGroup(CalibrationSummary):
    tier: str = Field(description="prior, probe or measured.")
    method: str


class CalibrationSource(CalibrationSummary):
    source: Literal["run", "import"] = Field(
        description="run: a plan's prediction, then the run's measurement. import: an imported result, and the "
        "forecast a plan would have made for it from the evidence before it was stored."
    )


class ConformalTier(BaseModel):
    tier: str = Field(description="prior or probe (measured forecasts are the runs themselves).")
    n_interval: int = Field(description="Verified predictions of this tier with an interval (runs and imports).")
    n_interval_runs: int = Field(description="Of them, predictions verified by a run.")
    n_interval_imports: int = Field(description="Of them, imported results' out-of-sample forecasts.")
    coverage_before: float = Field(description="Share of measured accuracies inside the predicted interval.")
    coverage_after_held_out: float = Field(
        description="The same share for split conformal intervals calibrated on the other pairs (5 folds)."
    )
    half_width_scale: float | None = Field(
        description="Factor on the tier's half-widths that all pairs give for interval_level; null below 10 pairs."
    )


class Calibration(BaseModel):
    interval_level: float = Field(description="Nominal level of the predicted intervals.")
    overall: CalibrationSummary
    sources: list[CalibrationSource] = Field(description="The same summary for runs' pairs and imports' pairs.")
    groups: list[CalibrationGroup]
    conformal: list[ConformalTier] = Field(
        description="Per tier: interval coverage before and after split conformal calibration on held-out pairs."
    )
