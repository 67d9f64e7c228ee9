"""Measurements: observed outcomes (PRODUCT.md ``Measurement``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.tasks import UtcDatetime

__all__ = ["MeasurementCreate", "MeasurementPublic"]


class MeasurementBase(BaseModel):
    task: str = Field(..., min_length=1, max_length=200, description="Task id or name.")
    candidate: dict[str, Any] = Field(..., max_length=64, description="The Candidate measured (model, method, …).")
    accuracy: float | None = Field(None, ge=0.0, le=1.0)
    cost_usd: float | None = Field(None, ge=0.0, le=1e9)
    gpu_hours: float | None = Field(None, ge=0.0, le=1e9)
    peak_memory_bytes: int | None = Field(None, ge=0, le=2**62)
    step_time_s: float | None = Field(None, ge=0.0, le=1e9)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class MeasurementCreate(MeasurementBase):
    """An imported measurement; ``run:<id>`` sources are written by workers only."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=8, max_length=500, description="'import:<citation>'.")

    @field_validator("source")
    @classmethod
    def _imported(cls, value: str) -> str:
        if not value.startswith("import:") or not value[len("import:") :].strip():
            raise ValueError("must be 'import:<citation>' (run:<id> measurements come from runs)")
        return value

    @field_validator("candidate")
    @classmethod
    def _names_model_and_method(cls, value: dict[str, Any]) -> dict[str, Any]:
        model, method = value.get("model"), value.get("method")
        model_id = model.get("id") if isinstance(model, dict) else model
        method_name = method.get("name") if isinstance(method, dict) else method
        if not isinstance(model_id, str) or not model_id:
            raise ValueError("candidate.model must be a model id or an object with an 'id'")
        if not isinstance(method_name, str) or not method_name:
            raise ValueError("candidate.method must be a method name or an object with a 'name'")
        return value

    @property
    def model_id(self) -> str:
        model = self.candidate["model"]
        return str(model["id"] if isinstance(model, dict) else model)

    @property
    def method_name(self) -> str:
        method = self.candidate["method"]
        return str(method["name"] if isinstance(method, dict) else method)


class MeasurementPublic(MeasurementBase):
    id: str
    model: str = Field(description="The candidate's model id.")
    method: str = Field(description="The candidate's method name.")
    source: str
    run: str | None = Field(description="The run that produced it, for run:<id> sources.")
    created_at: UtcDatetime
