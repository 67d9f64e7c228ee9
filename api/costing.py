"""Costing service: resolve API candidates against the catalogs into a candidate table and cost it over arrays.

What a cost reads from the database (every model's architecture, every GPU's spec, the efficiency
calibration) each process keeps as a :class:`CostCatalog`, parsed once, until one statement
(:func:`storage.repositories.cost_inputs.cost_inputs_version`) says it changed; on SQLite that statement
itself is skipped while the file's commit counter stands still. A single-candidate ``POST /v1/cost`` then
reads nothing (three queries were two thirds of its CPU time, issue #15), and an edit made through any
API process is seen by the next request of every other. A grid becomes a table without expanding it into
candidate objects, and the cost model evaluates whole columns (:mod:`predictors.cost.columns`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.schemas.cost import Candidate, InlineModel
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
from storage.db import commit_counter
from storage.repositories import cost_inputs as cost_inputs_repo
from storage.repositories import runs as runs_repo

__all__ = [
    "CostCatalog",
    "ResolvedTable",
    "cost_catalog",
    "cost_catalog_is_held",
    "cost_table",
    "estimate_candidate_costs",
    "resolve_candidates",
    "resolve_grid",
]


@dataclass(frozen=True, slots=True)
class ResolvedTable:
    """A candidate table, the GPU specs it names, the inline models it holds (by id) and what the API shows
    of each part (its JSON)."""

    table: CandidateTable
    hardware: dict[str, HardwareSpec]
    calibration: EfficiencyCalibration  # of the same catalog read
    inline_models: dict[str, InlineModel]
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


def _architecture(config: Mapping[str, Any] | None, *, field: str) -> Architecture:
    if config is None:
        raise InvalidInputError(field, "a model given by path needs an 'architecture' (its config.json) to be costed")
    try:
        return architecture_from_hf_config(config)
    except InvalidInputError as exc:
        raise InvalidInputError(field + exc.field.removeprefix("architecture"), exc.message) from None


def _parsed(parse: Any, value: Any, field: str) -> Any:
    """``parse(value, field=field)``, or the error it raises (kept, and raised for a request that names it)."""
    try:
        return parse(value, field=field)
    except InvalidInputError as exc:
        return exc


@dataclass(frozen=True, slots=True)
class CostCatalog:
    """What a cost reads from the database as this process keeps it: every stored model's architecture and
    GPU's spec, each parsed once (or the error it gives), and the efficiency calibration refitted on the
    measured GPU steps; ``version`` is the :func:`~storage.repositories.cost_inputs.cost_inputs_version`
    it was read at."""

    version: tuple[Any, ...]
    architectures: Mapping[str, Architecture | InvalidInputError]
    hardware: Mapping[str, HardwareSpec | InvalidInputError]
    calibration: EfficiencyCalibration

    def architecture(self, model_id: str, *, field: str) -> Architecture | None:
        """The stored model's architecture, None when no model has that id; errors name ``field``."""
        parsed = self.architectures.get(model_id)
        if isinstance(parsed, InvalidInputError):
            raise InvalidInputError(field + parsed.field.removeprefix("architecture"), parsed.message)
        return parsed

    def gpu(self, gpu: str, *, field: str) -> HardwareSpec:
        """The stored GPU's spec; an unknown GPU's error names ``field`` and lists the known ones."""
        spec = self.hardware.get(gpu)
        if spec is None:
            raise InvalidInputError(field, f"unknown GPU {gpu!r}; known: {', '.join(sorted(self.hardware))}")
        if isinstance(spec, InvalidInputError):
            raise spec
        return spec


def _read_cost_catalog(session: Session, version: tuple[Any, ...]) -> CostCatalog:
    """Every model, GPU and measured GPU step, in the caller's session. The shipped efficiency calibration is
    refitted per method family on the project's own measured steps (verification runs) once a family has
    three of them."""
    architectures = {
        model_id: _parsed(_architecture, config, "architecture")
        for model_id, config in cost_inputs_repo.all_model_architectures(session=session).items()
    }
    hardware = {
        gpu: _parsed(hardware_spec_from_catalog, values, "hardware")
        for gpu, values in cost_inputs_repo.all_hardware_values(session=session).items()
    }
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
    return CostCatalog(version, architectures, hardware, calibration)


class _CostCatalogs:
    """Each database's :class:`CostCatalog` with the commit count it was last confirmed at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[Engine, tuple[CostCatalog, int | None]] = {}

    @staticmethod
    def _engine(session: Session) -> Engine:
        engine = session.get_bind()
        assert isinstance(engine, Engine), "a cost's session is bound to an engine"
        return engine

    def _lookup(self, engine: Engine) -> tuple[CostCatalog | None, CostCatalog | None, int | None]:
        """(the kept catalog when SQLite's commit counter has not moved since it was confirmed, else None;
        the kept catalog; the commit count now, None off SQLite)."""
        counter = commit_counter(engine)
        commits = counter() if counter is not None else None  # read first: a commit after it is seen next time
        with self._lock:
            kept = self._kept.get(engine)
        unchanged = kept[0] if kept is not None and commits is not None and kept[1] == commits else None
        return unchanged, kept[0] if kept is not None else None, commits

    def held(self, session: Session) -> bool:
        """Whether the catalog kept for ``session``'s database is known current without a query."""
        return self._lookup(self._engine(session))[0] is not None

    def current(self, session: Session) -> CostCatalog:
        engine = self._engine(session)
        unchanged, kept, commits = self._lookup(engine)
        if unchanged is not None:
            return unchanged
        version = cost_inputs_repo.cost_inputs_version(session=session)
        catalog = kept if kept is not None and kept.version == version else _read_cost_catalog(session, version)
        with self._lock:
            self._kept[engine] = (catalog, commits)
        return catalog


_COST_CATALOGS = _CostCatalogs()


def cost_catalog(*, session: Session) -> CostCatalog:
    """The models, GPUs and calibration ``session``'s database holds now, read again only when they changed."""
    return _COST_CATALOGS.current(session)


def cost_catalog_is_held(*, session: Session) -> bool:
    """Whether :func:`cost_catalog` would answer without any I/O (a few microseconds to tell)."""
    return _COST_CATALOGS.held(session)


def resolve_candidates(
    *, session: Session, candidates: Sequence[Candidate], field: str = "candidates"
) -> ResolvedTable:
    """Catalog ids -> architectures, GPU ids -> specs, method dicts -> validated configs (defaults filled
    in); errors name the candidate's field (``candidates[3].method.rank``)."""
    catalog = cost_catalog(session=session)
    hardware: dict[str, HardwareSpec] = {}
    builder = TableBuilder()
    architectures: dict[str, Architecture] = {}
    inline_models: dict[str, InlineModel] = {}
    model_json: list[Any] = []
    method_json: list[dict[str, Any]] = []
    for i, candidate in enumerate(candidates):
        prefix = f"{field}[{i}]"
        model = candidate.model
        shown: Any
        if isinstance(model, str):
            key, shown = model, model
            if key not in architectures:
                architecture = catalog.architecture(model, field=f"{prefix}.model.architecture")
                if architecture is None:
                    raise InvalidInputError(
                        f"{prefix}.model", f"unknown model {model!r}; see GET /v1/models or send an inline architecture"
                    )
                architectures[key] = architecture
        else:
            key = f"inline:{model.id}:{json.dumps(model.architecture, sort_keys=True, default=str)}"
            if key not in architectures:
                architectures[key] = _architecture(model.architecture, field=f"{prefix}.model.architecture")
            shown = {"id": model.id, "architecture": model.architecture}
            if isinstance(model, InlineModel):
                inline_models[model.id] = model
        gpu = candidate.hardware.gpu
        if gpu not in hardware:
            hardware[gpu] = catalog.gpu(gpu, field=f"{prefix}.hardware.gpu")
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
    return ResolvedTable(
        builder.build(), hardware, catalog.calibration, inline_models, tuple(model_json), tuple(method_json)
    )


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
    catalog = cost_catalog(session=session)
    specs = {
        request.gpu: catalog.gpu(request.gpu, field=f"grid.hardware[{j}].gpu") for j, request in enumerate(hardware)
    }
    parts: list[tuple[str, Architecture]] = []
    model_json: list[Any] = []
    inline_models: dict[str, InlineModel] = {}
    for j, model in enumerate(models):
        if isinstance(model, str):
            architecture = catalog.architecture(model, field=f"grid.models[{j}].architecture")
            if architecture is None:
                raise InvalidInputError(f"grid.models[{j}]", f"unknown model {model!r}; see GET /v1/models")
            parts.append((model, architecture))
            model_json.append(model)
        else:
            parts.append((model.id, _architecture(model.architecture, field=f"grid.models[{j}].architecture")))
            model_json.append({"id": model.id, "architecture": model.architecture})
            inline_models[model.id] = model
    table = CandidateTable.grid(
        models=parts, methods=methods, trainings=trainings, hardware=hardware, evaluation=evaluation
    )
    method_json = tuple(m.model_dump(mode="json") for m in methods)
    return ResolvedTable(table, specs, catalog.calibration, inline_models, tuple(model_json), method_json)


SMALL_TABLE_ROWS = 32
"""Below this many candidates the per-candidate path is faster than setting up the arrays (one
candidate: 0.06 ms against 0.9 ms; the two agree to 1e-9, ``tests/predictors/test_cost_columns.py``)."""


def cost_table(resolved: ResolvedTable) -> CostColumns:
    """Every candidate's cost, as columns, with the calibration the project's own runs refitted."""
    calibration = resolved.calibration
    table = resolved.table
    if len(table) < SMALL_TABLE_ROWS:
        candidates = [table.candidate(i) for i in range(len(table))]
        estimates = estimate_costs(candidates, hardware=resolved.hardware, calibration=calibration)
        return CostColumns.from_estimates(table, estimates, hardware=resolved.hardware, calibration=calibration)
    return estimate_cost_columns(table, hardware=resolved.hardware, calibration=calibration)


def estimate_candidate_costs(*, session: Session, candidates: Sequence[Candidate]) -> list[CostEstimate]:
    """``POST /v1/cost``: every candidate's :class:`CostEstimate`, in order."""
    columns = cost_table(resolve_candidates(session=session, candidates=candidates))
    return [columns.estimate(i) for i in range(len(columns))]
