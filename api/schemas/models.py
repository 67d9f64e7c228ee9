"""Base models: what ``/v1/models`` returns and what ``/v1/models/import`` takes."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ConfigDict, Field

from api.schemas.tasks import UtcDatetime
from predictors.validation import EdgeModel

__all__ = ["ModelImport", "ModelPublic"]

MODEL_ID_MAX_LENGTH = 128  # storage.models.BaseModelRow.id and MeasurementRow.model_id
MODEL_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._\-]{{0,{MODEL_ID_MAX_LENGTH - 1}}}$"
METHOD_NAME_MAX_LENGTH = 64  # storage.models.MeasurementRow.method_name


class ModelBase(EdgeModel):
    family: str | None = Field(None, max_length=128, description="Model family (e.g. 'Llama-3').")
    hf_id: str | None = Field(None, max_length=256, description="Hugging Face repository id.")
    training_tokens: int | None = Field(None, ge=1, le=10**15, description="Pretraining tokens.")
    release_date: date | None = None
    license: str | None = Field(None, max_length=128)


class ModelImport(ModelBase):
    """A Hugging Face ``config.json`` to register as a model; every count is derived from it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=MODEL_ID_PATTERN, description="New model id (letters, digits, '.', '_', '-').")
    config: dict[str, Any] = Field(..., max_length=2000, description="The model's config.json object.")


class ModelPublic(ModelBase):
    id: str
    family: str
    model_type: str
    architecture: dict[str, Any] = Field(description="HF config fields plus the derived head_dim, norm and KV heads.")
    total_params: int
    active_params: int
    published_params: int | None
    benchmarks: dict[str, float]
    sources: dict[str, str]
    origin: str
    created_at: UtcDatetime
