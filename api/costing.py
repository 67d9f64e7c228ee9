"""Costing service: resolve API candidates against the catalogs into a candidate table and cost it over arrays.

Catalog look-ups happen once per request (every model and GPU named), so 10,000 candidates cost two
queries, not 20,000; a grid becomes a table without expanding it into candidate objects, and the cost
model evaluates whole columns (:mod:`predictors.cost.columns`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.schemas.cost import Candidate, InlineModel, PathModel
from predictors.architecture import Architecture, architecture_from_hf_config
from predictors.cost import (
    CalibrationRow,
    CostCandidate,
    CostEstimate,
    EfficiencyCalibration,
    EvaluationConfig,
    HardwareRequest,
    HardwareSpec,
    TrainingConfig,
    default_calibration,
    estimate_costs,
    hardware_spec_from_catalog,
)
from predictors.cost.columns import CostColumns, estimate_cost_columns
from predictors.cost.table import CandidateTable, TableBuilder
from predictors.errors import InvalidInputError
from predictors.methods import MethodConfig, parse_method
from storage.models import BaseModelRow
from storage.repositories import catalog as catalog_repo
from storage.repositories import runs as runs_repo

__all__ = [
    "ResolvedTable",
    "cost_table",
    "efficiency_calibration",
    "estimate_candidate_costs",
    "resolve_candidates",
    "resolve_grid",
]


@dataclass(frozen=True, slots=True)
class ResolvedTable:
    """A candidate table, the GPU specs it names, and what the API shows of each part (its JSON)."""

    table: CandidateTable
    hardware: dict[str, HardwareSpec]
    models: dict[str, BaseModelRow | InlineModel]
    model_json: tuple[Any, ...]  # per table model entry: the catalog id, or {"id", "architecture"}
    method_json: tuple[dict[str, Any], ...]  # per method entry, every default filled in

    def __len__(self) -> int:
        return len(self.table)

    def candidate_json(self, i: int) -> dict[str, Any]:
        """Candidate ``i`` as the API shows it (canonical: equal configurations, equal JSON)."""
        t = self.table
        return {
            "model": self.model_json[int(t.model[i])],
            "method": self.method_json[int(t.method[i])],
            "training": t.trainings[int(t.training[i])].model_dump(mode="json"),
            "hardware": t.hardware[int(t.gpu[i])].model_dump(mode="json"),
            "evaluation": t.evaluations[int(t.evaluation[i])].model_dump(mode="json"),
        }

    def method_name(self, i: int) -> str:
        return self.table.methods[int(self.table.method[i])].name

    def model_id(self, i: int) -> str:
        return self.table.model_ids[int(self.table.model[i])]


def _architecture(model: BaseModelRow | InlineModel | PathModel, *, field: str) -> Architecture:
    config = model.architecture
    if config is None:
        raise InvalidInputError(field, "a model given by path needs an 'architecture' (its config.json) to be costed")
    try:
        return architecture_from_hf_config(config)
    except InvalidInputError as exc:
        raise InvalidInputError(field + exc.field.removeprefix("architecture"), exc.message) from None


def _catalog_models(session: Session, ids: set[str]) -> dict[str, BaseModelRow]:
    return catalog_repo.models_by_id(session=session, model_ids=ids)


def _hardware_specs(session: Session, ids: set[str]) -> dict[str, HardwareSpec]:
    """The named GPUs as the database holds them (``PUT /v1/hardware`` edits included)."""
    values = catalog_repo.hardware_values(session=session, hardware_ids=ids)
    return {gpu: hardware_spec_from_catalog(row, field="hardware") for gpu, row in values.items()}


def _unknown_gpu(session: Session, field: str, gpu: str) -> InvalidInputError:
    known = ", ".join(catalog_repo.hardware_ids(session=session))
    return InvalidInputError(field, f"unknown GPU {gpu!r}; known: {known}")


def resolve_candidates(
    *, session: Session, candidates: Sequence[Candidate], field: str = "candidates"
) -> ResolvedTable:
    """Catalog ids -> architectures, GPU ids -> specs, method dicts -> validated configs (defaults filled
    in); errors name the candidate's field (``candidates[3].method.rank``)."""
    catalog = _catalog_models(session, {c.model for c in candidates if isinstance(c.model, str)})
    hardware = _hardware_specs(session, {c.hardware.gpu for c in candidates})
    builder = TableBuilder()
    architectures: dict[str, Architecture] = {}
    models: dict[str, BaseModelRow | InlineModel] = {}
    model_json: list[Any] = []
    method_json: list[dict[str, Any]] = []
    for i, candidate in enumerate(candidates):
        prefix = f"{field}[{i}]"
        model = candidate.model
        shown: Any
        if isinstance(model, str):
            row = catalog.get(model)
            if row is None:
                raise InvalidInputError(
                    f"{prefix}.model", f"unknown model {model!r}; see GET /v1/models or send an inline architecture"
                )
            key, shown = model, model
            if key not in architectures:
                architectures[key] = _architecture(row, field=f"{prefix}.model.architecture")
            models[key] = row
        else:
            key = f"inline:{model.id}:{json.dumps(model.architecture, sort_keys=True, default=str)}"
            if key not in architectures:
                architectures[key] = _architecture(model, field=f"{prefix}.model.architecture")
            shown = {"id": model.id, "architecture": model.architecture}
            if isinstance(model, InlineModel):
                models[model.id] = model
        if candidate.hardware.gpu not in hardware:
            raise _unknown_gpu(session, f"{prefix}.hardware.gpu", candidate.hardware.gpu)
        method = parse_method(candidate.method, field=f"{prefix}.method")
        cost_candidate = CostCandidate(
            architecture=architectures[key],
            model_id=candidate.model_id,
            method=method,
            training=candidate.training,
            hardware=candidate.hardware,
            evaluation=candidate.evaluation,
        )
        _, _, new_model, new_method = builder.add(cost_candidate, model_key=key)
        if new_model:
            model_json.append(shown)
        if new_method:
            method_json.append(method.model_dump(mode="json"))
    return ResolvedTable(builder.build(), hardware, models, tuple(model_json), tuple(method_json))


def resolve_grid(
    *,
    session: Session,
    models: Sequence[str | InlineModel],
    methods: Sequence[MethodConfig],
    trainings: Sequence[TrainingConfig],
    hardware: Sequence[HardwareRequest],
    evaluation: EvaluationConfig,
) -> ResolvedTable:
    """A grid's table (every model × method × GPU × training), each axis resolved once; the caller has
    checked the axes, so an error here names the grid entry."""
    catalog = _catalog_models(session, {m for m in models if isinstance(m, str)})
    specs = _hardware_specs(session, {h.gpu for h in hardware})
    for j, request in enumerate(hardware):
        if request.gpu not in specs:
            raise _unknown_gpu(session, f"grid.hardware[{j}].gpu", request.gpu)
    parts: list[tuple[str, Architecture]] = []
    model_json: list[Any] = []
    infos: dict[str, BaseModelRow | InlineModel] = {}
    for j, model in enumerate(models):
        if isinstance(model, str):
            row = catalog.get(model)
            if row is None:
                raise InvalidInputError(f"grid.models[{j}]", f"unknown model {model!r}; see GET /v1/models")
            parts.append((model, _architecture(row, field=f"grid.models[{j}].architecture")))
            model_json.append(model)
            infos[model] = row
        else:
            parts.append((model.id, _architecture(model, field=f"grid.models[{j}].architecture")))
            model_json.append({"id": model.id, "architecture": model.architecture})
            infos[model.id] = model
    table = CandidateTable.grid(
        models=parts, methods=methods, trainings=trainings, hardware=hardware, evaluation=evaluation
    )
    return ResolvedTable(table, specs, infos, tuple(model_json), tuple(m.model_dump(mode="json") for m in methods))


def efficiency_calibration(*, session: Session) -> EfficiencyCalibration:
    """The shipped efficiency calibration, refitted per method family on the project's own measured GPU
    steps (verification runs) once a family has three of them; recomputed only when a fine-tune finished
    since (one aggregate query per request otherwise)."""
    bind = session.get_bind()
    database = str(bind.engine.url) if hasattr(bind, "engine") else repr(bind)
    version = (database, *runs_repo.measured_steps_version(session=session))
    cached = _calibration_cache.get(version)
    if cached is not None:
        return cached
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
    calibration = default_calibration().refit_families(rows) if rows else default_calibration()
    _calibration_cache.clear()
    _calibration_cache[version] = calibration
    return calibration


_calibration_cache: dict[tuple[str, int, str], EfficiencyCalibration] = {}


SMALL_TABLE_ROWS = 32
"""Below this many candidates the per-candidate path is faster than setting up the arrays (one
candidate: 0.06 ms against 0.9 ms; the two agree to 1e-9, ``tests/predictors/test_cost_columns.py``)."""


def cost_table(*, session: Session, resolved: ResolvedTable) -> CostColumns:
    """Every candidate's cost, as columns, with the calibration the project's own runs refitted."""
    calibration = efficiency_calibration(session=session)
    table = resolved.table
    if len(table) < SMALL_TABLE_ROWS:
        candidates = [table.candidate(i) for i in range(len(table))]
        estimates = estimate_costs(candidates, hardware=resolved.hardware, calibration=calibration)
        return CostColumns.from_estimates(table, estimates, hardware=resolved.hardware, calibration=calibration)
    return estimate_cost_columns(table, hardware=resolved.hardware, calibration=calibration)


def estimate_candidate_costs(*, session: Session, candidates: Sequence[Candidate]) -> list[CostEstimate]:
    """``POST /v1/cost``: every candidate's :class:`CostEstimate`, in order."""
    columns = cost_table(session=session, resolved=resolve_candidates(session=session, candidates=candidates))
    return [columns.estimate(i) for i in range(len(columns))]
