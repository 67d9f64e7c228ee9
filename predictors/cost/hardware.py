"""Accelerator specifications the cost model needs; callers build them (the API from the catalog).

``predictors`` may not import ``storage``: the API layer reads ``storage/catalogs/hardware.json`` (or the
database copy) and passes :class:`HardwareSpec` objects in, e.g. ``hardware_spec_from_catalog(row)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from predictors.errors import InvalidInputError

__all__ = ["HardwareSpec", "hardware_spec_from_catalog"]


@dataclass(frozen=True, slots=True)
class HardwareSpec:
    """One accelerator kind: memory, dense peak throughput by dtype, HBM bandwidth and price.

    ``peak_*_tflops`` are dense (no sparsity) vendor figures; ``None`` where the dtype is unsupported
    (T4 has no bf16). ``vendor`` ``"nvidia"`` marks a CUDA device (needed by bitsandbytes NF4/int8).
    """

    id: str
    memory_bytes: int
    peak_bf16_tflops: float | None
    peak_fp16_tflops: float | None
    peak_fp32_tflops: float
    hbm_gbps: float
    usd_per_hour: float
    vendor: str = "nvidia"
    interconnect_gbps: float | None = None
    name: str = ""

    @property
    def is_cuda(self) -> bool:
        return self.vendor.lower() == "nvidia"

    def peak_flops_per_s(self, precision: str) -> float:
        """Dense peak FLOP/s for the compute dtype a training precision implies (fp16 stands in for missing bf16)."""
        if precision == "fp32":
            tflops: float | None = self.peak_fp32_tflops
        elif precision == "fp16":
            tflops = self.peak_fp16_tflops or self.peak_bf16_tflops
        else:
            tflops = self.peak_bf16_tflops or self.peak_fp16_tflops
        if not tflops:
            tflops = self.peak_fp32_tflops
        return float(tflops) * 1e12

    @property
    def hbm_bytes_per_s(self) -> float:
        return self.hbm_gbps * 1e9


def _number(row: Mapping[str, Any], key: str, *, required: bool, field: str) -> float | None:
    value = row.get(key)
    if value is None:
        if required:
            raise InvalidInputError(f"{field}.{key}", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInputError(f"{field}.{key}", f"must be a positive number, got {value!r}")
    return float(value)


def hardware_spec_from_catalog(row: Mapping[str, Any], *, field: str = "hardware") -> HardwareSpec:
    """Build a :class:`HardwareSpec` from one ``hardware.json`` row (``GET /v1/hardware`` item).

    Examples
    --------
    >>> spec = hardware_spec_from_catalog({"id": "H200", "memory_bytes": 150754820096, "peak_bf16_tflops": 989.4,
    ...     "peak_fp16_tflops": 989.4, "peak_fp32_tflops": 66.9, "hbm_gbps": 4800, "usd_per_hour": 3.79})
    >>> spec.memory_bytes
    150754820096
    """
    ident = row.get("id")
    if not isinstance(ident, str) or not ident:
        raise InvalidInputError(f"{field}.id", "is required")
    memory = _number(row, "memory_bytes", required=True, field=field)
    fp32 = _number(row, "peak_fp32_tflops", required=True, field=field)
    hbm = _number(row, "hbm_gbps", required=True, field=field)
    price = row.get("usd_per_hour", 0.0)
    if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
        raise InvalidInputError(f"{field}.usd_per_hour", f"must be a non-negative number, got {price!r}")
    assert memory is not None and fp32 is not None and hbm is not None
    return HardwareSpec(
        id=ident,
        memory_bytes=int(memory),
        peak_bf16_tflops=_number(row, "peak_bf16_tflops", required=False, field=field),
        peak_fp16_tflops=_number(row, "peak_fp16_tflops", required=False, field=field),
        peak_fp32_tflops=fp32,
        hbm_gbps=hbm,
        usd_per_hour=float(price),
        vendor=str(row.get("vendor", "nvidia")),
        interconnect_gbps=_number(row, "interconnect_gbps", required=False, field=field),
        name=str(row.get("name", ident)),
    )
