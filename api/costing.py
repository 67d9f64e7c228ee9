"""Costing service: resolve API candidates against the catalogs and run the cost model.

Catalog look-ups happen once per request (every model and GPU named), so 10,000 candidates cost
two queries, not 20,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas.cost import Candidate, InlineModel, PathModel
from predictors.architecture import Architecture, architecture_from_hf_config
from predictors.cost import (
    CalibrationRow,
    CostCandidate,
    CostEstimate,
    EfficiencyCalibration,
    HardwareSpec,
    default_calibration,
    estimate_costs,
    hardware_spec_from_catalog,
)
from predictors.errors import InvalidInputError
from predictors.methods import parse_method
from storage.models import BaseModelRow, HardwareRow
from storage.repositories import runs as runs_repo

__all__ = ["ResolvedCandidates", "efficiency_calibration", "estimate_candidate_costs", "resolve_candidates"]

_HARDWARE_FIELDS = (
    "id",
    "name",
    "vendor",
    "memory_bytes",
    "peak_bf16_tflops",
    "peak_fp16_tflops",
    "peak_fp32_tflops",
    "hbm_gbps",
    "interconnect_gbps",
    "usd_per_hour",
)


@dataclass(frozen=True, slots=True)
class ResolvedCandidates:
    """Domain candidates plus what the accuracy predictors need of their models."""

    candidates: list[CostCandidate]
    hardware: dict[str, HardwareSpec]
    models: dict[str, BaseModelRow | InlineModel]


def _architecture(model: BaseModelRow | InlineModel | PathModel, *, field: str) -> Architecture:
    config = model.architecture
    if config is None:
        raise InvalidInputError(field, "a model given by path needs an 'architecture' (its config.json) to be costed")
    try:
        return architecture_from_hf_config(config)
    except InvalidInputError as exc:
        raise InvalidInputError(field + exc.field.removeprefix("architecture"), exc.message) from None


def resolve_candidates(
    *, session: Session, candidates: Sequence[Candidate], field: str = "candidates"
) -> ResolvedCandidates:
    """Catalog ids -> architectures, GPU ids -> specs, method dicts -> validated configs; errors name the field."""
    wanted_models = {c.model for c in candidates if isinstance(c.model, str)}
    catalog_models = {
        row.id: row for row in session.scalars(select(BaseModelRow).where(BaseModelRow.id.in_(wanted_models)))
    }
    wanted_gpus = {c.hardware.gpu for c in candidates}
    hardware = {
        row.id: hardware_spec_from_catalog({key: getattr(row, key) for key in _HARDWARE_FIELDS}, field="hardware")
        for row in session.scalars(select(HardwareRow).where(HardwareRow.id.in_(wanted_gpus)))
    }
    architectures: dict[str, Architecture] = {}
    models: dict[str, BaseModelRow | InlineModel] = {}
    resolved: list[CostCandidate] = []
    for i, candidate in enumerate(candidates):
        prefix = f"{field}[{i}]"
        model = candidate.model
        if isinstance(model, str):
            row = catalog_models.get(model)
            if row is None:
                raise InvalidInputError(
                    f"{prefix}.model", f"unknown model {model!r}; see GET /v1/models or send an inline architecture"
                )
            key = model
            if key not in architectures:
                architectures[key] = _architecture(row, field=f"{prefix}.model.architecture")
            models[key] = row
        else:
            key = f"inline:{model.id}:{i}"
            architectures[key] = _architecture(model, field=f"{prefix}.model.architecture")
            if isinstance(model, InlineModel):
                models[model.id] = model
        if candidate.hardware.gpu not in hardware:
            known = ", ".join(sorted(r for r in session.scalars(select(HardwareRow.id))))
            raise InvalidInputError(f"{prefix}.hardware.gpu", f"unknown GPU {candidate.hardware.gpu!r}; known: {known}")
        method = parse_method(candidate.method, field=f"{prefix}.method")
        resolved.append(
            CostCandidate(
                architecture=architectures[key],
                model_id=candidate.model_id,
                method=method,
                training=candidate.training,
                hardware=candidate.hardware,
                evaluation=candidate.evaluation,
            )
        )
    return ResolvedCandidates(candidates=resolved, hardware=hardware, models=models)


def efficiency_calibration(*, session: Session) -> EfficiencyCalibration:
    """The shipped efficiency calibration, refitted per method family on the project's own measured GPU
    steps (verification runs) once a family has three of them."""
    rows = [
        CalibrationRow(
            family=str(r["family"]),
            ideal_compute_s=float(r["ideal_compute_s"]),
            ideal_memory_s=float(r["ideal_memory_s"]),
            kernel_launches=int(r["kernel_launches"]),
            measured_s=float(r["measured_s"]),
        )
        for r in runs_repo.measured_step_rows(session=session)
    ]
    if not rows:
        return default_calibration()
    key = tuple((r.family, r.ideal_compute_s, r.ideal_memory_s, r.kernel_launches, r.measured_s) for r in rows)
    cached = _calibration_cache.get(key)
    if cached is None:
        cached = default_calibration().refit_families(rows)
        _calibration_cache.clear()
        _calibration_cache[key] = cached
    return cached


_calibration_cache: dict[tuple[tuple[str, float, float, int, float], ...], EfficiencyCalibration] = {}


def estimate_candidate_costs(*, session: Session, candidates: Sequence[Candidate]) -> list[CostEstimate]:
    resolved = resolve_candidates(session=session, candidates=candidates)
    return estimate_costs(
        resolved.candidates, hardware=resolved.hardware, calibration=efficiency_calibration(session=session)
    )
