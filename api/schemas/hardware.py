"""Accelerator kinds (``/v1/hardware``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from api.schemas.common import omit_not_null
from predictors.validation import EdgeModel

__all__ = ["HardwarePublic", "HardwareUpdate"]

NULLABLE_FIELDS = frozenset({"peak_bf16_tflops", "peak_fp16_tflops", "interconnect_gbps"})
"""What a real accelerator may lack: the only fields an update may set to null."""


class HardwarePublic(BaseModel):
    id: str
    name: str
    vendor: str
    memory_bytes: int
    peak_bf16_tflops: float | None
    peak_fp16_tflops: float | None
    peak_fp32_tflops: float
    hbm_gbps: float
    interconnect_gbps: float | None
    usd_per_hour: float
    edited_fields: list[str] = Field(description="Fields a user changed: kept as edited when the catalog is re-seeded.")
    source: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usd_per_hour_edited(self) -> bool:
        return "usd_per_hour" in self.edited_fields


class HardwareUpdate(EdgeModel):
    """Fields a user may change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: str | None = Field(None, json_schema_extra=omit_not_null, min_length=1, max_length=128)
    # lower bounds a real accelerator clears: 5e-324 TFLOPS or a 1 MiB GPU only make every plan on it fail
    memory_bytes: int | None = Field(
        None, json_schema_extra=omit_not_null, ge=2**30, le=2**50, description="At least 1 GiB."
    )
    peak_bf16_tflops: float | None = Field(None, ge=0.1, le=1e6)
    peak_fp16_tflops: float | None = Field(None, ge=0.1, le=1e6)
    peak_fp32_tflops: float | None = Field(None, json_schema_extra=omit_not_null, ge=0.1, le=1e6)
    hbm_gbps: float | None = Field(None, json_schema_extra=omit_not_null, ge=1, le=1e6)
    interconnect_gbps: float | None = Field(None, ge=0.1, le=1e6)
    usd_per_hour: float | None = Field(
        None, json_schema_extra=omit_not_null, ge=0, le=10000, description="Price of one device-hour in USD."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> HardwareUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in NULLABLE_FIELDS:
                raise ValueError(f"{name} cannot be null")
        return self
