"""Scaling-law fits and predictions (``/v1/scaling/fit``, ``/v1/scaling/predict``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from predictors.validation import EdgeModel

__all__ = ["FitRequest", "FitResponse", "Point", "PredictRequest", "PredictResponse"]

XValue = float | list[float] | dict[str, float]


class Point(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    x: XValue = Field(
        ..., description="The law's input: a number, a list ([N, D]) or named inputs ({n_params, n_tokens})."
    )
    y: float = Field(..., description="The observed value (loss, accuracy, pass rate…).")
    weight: float | None = Field(None, gt=0, le=1e12, description="Optional sample weight.")


class FitRequest(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    law: str = Field(
        ...,
        max_length=64,
        description="chinchilla, densing, observational, passuntil, icl_shots, rectified_data, joint_finetune",
    )
    points: list[Point] = Field(..., min_length=1, max_length=100_000)
    options: dict[str, Any] = Field(
        default_factory=dict, max_length=32, description="Estimator options (loss, fixed, interval, …)."
    )


class FitResponse(BaseModel):
    law: str
    params: dict[str, float | None]
    intervals: dict[str, Any]
    diagnostics: dict[str, Any]
    level: float | None = None


class PredictRequest(EdgeModel):
    model_config = ConfigDict(extra="forbid")

    law: str = Field(..., max_length=64)
    params: dict[str, float] = Field(..., min_length=1, max_length=64)
    x: list[XValue] = Field(..., min_length=1, max_length=100_000)
    level: float | None = Field(None, gt=0, lt=1, description="Interval level (needs intervals or covariance).")
    intervals: dict[str, Any] | None = Field(None, description="Parameter intervals as a fit returned them.")
    covariance: list[list[float]] | None = Field(None, max_length=64)
    options: dict[str, Any] = Field(default_factory=dict, max_length=32)


class PredictResponse(BaseModel):
    y: list[float | None]
    lower: list[float | None] | None
    upper: list[float | None] | None
    level: float | None = None
