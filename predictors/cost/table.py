"""Candidates as a table: the distinct architectures, methods, trainings, GPUs and evaluations, and per
candidate an index into each.

A planner grid of 100,000 candidates is five short lists and five index arrays, never 100,000 objects;
the vectorised cost path (:mod:`predictors.cost.columns`) evaluates whole columns of it, and
:meth:`CandidateTable.candidate` builds one :class:`CostCandidate` only where a row is shown.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictors.architecture import Architecture
from predictors.cost.schemas import CostCandidate, EvaluationConfig, HardwareRequest, TrainingConfig
from predictors.methods.base import MethodConfig

__all__ = ["CandidateTable", "TableBuilder", "method_key"]


def method_key(method: MethodConfig) -> Hashable:
    """A hashable value of a method's settings (equal settings, equal key; lists become tuples)."""
    return tuple(
        (name, tuple(value) if isinstance(value, list) else value) for name, value in sorted(method.__dict__.items())
    )


def _value_key(model: Any) -> Hashable:
    """A frozen pydantic model's field values as a tuple (hashing the model itself is slower)."""
    return (type(model), *model.__dict__.values())


class _Interner:
    """Distinct values in first-seen order, and the index of each value given."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Hashable, int] = {}

    def add(self, value: Any, key: Hashable) -> int:
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.values)
            self.values.append(value)
        return index


@dataclass(frozen=True, slots=True, eq=False)
class CandidateTable:
    """Candidate ``i`` is ``architectures[model[i]]`` (named ``model_ids[model[i]]``) × ``methods[method[i]]``
    × ``trainings[training[i]]`` × ``hardware[gpu[i]]`` × ``evaluations[evaluation[i]]``."""

    architectures: tuple[Architecture, ...]
    model_ids: tuple[str, ...]
    methods: tuple[MethodConfig, ...]
    trainings: tuple[TrainingConfig, ...]
    hardware: tuple[HardwareRequest, ...]
    evaluations: tuple[EvaluationConfig, ...]
    model: NDArray[np.intp]
    method: NDArray[np.intp]
    training: NDArray[np.intp]
    gpu: NDArray[np.intp]
    evaluation: NDArray[np.intp]

    def __len__(self) -> int:
        return int(self.model.shape[0])

    def candidate(self, i: int) -> CostCandidate:
        """Candidate ``i`` as the per-candidate cost path takes it."""
        return CostCandidate(
            architecture=self.architectures[int(self.model[i])],
            model_id=self.model_ids[int(self.model[i])],
            method=self.methods[int(self.method[i])],
            training=self.trainings[int(self.training[i])],
            hardware=self.hardware[int(self.gpu[i])],
            evaluation=self.evaluations[int(self.evaluation[i])],
        )

    @classmethod
    def from_candidates(cls, candidates: Sequence[CostCandidate]) -> CandidateTable:
        """A table of a candidate list (equal parts are stored once: by the architecture object and the
        model id, by the method's settings, by value for the rest)."""
        builder = TableBuilder()
        for c in candidates:
            builder.add(c, model_key=(id(c.architecture), c.model_id))
        return builder.build()

    @classmethod
    def grid(
        cls,
        *,
        models: Sequence[tuple[str, Architecture]],
        methods: Sequence[MethodConfig],
        trainings: Sequence[TrainingConfig],
        hardware: Sequence[HardwareRequest],
        evaluation: EvaluationConfig,
    ) -> CandidateTable:
        """Every model × method × GPU × training, in that nesting order (the last varies fastest)."""
        shape = (len(models), len(methods), len(hardware), len(trainings))
        model, method, gpu, training = (a.ravel() for a in np.indices(shape, dtype=np.intp))
        return cls(
            architectures=tuple(a for _, a in models),
            model_ids=tuple(m for m, _ in models),
            methods=tuple(methods),
            trainings=tuple(trainings),
            hardware=tuple(hardware),
            evaluations=(evaluation,),
            model=model,
            method=method,
            training=training,
            gpu=gpu,
            evaluation=np.zeros(model.shape[0], dtype=np.intp),
        )


class TableBuilder:
    """Adds candidates one by one, storing each distinct part once; :meth:`add` says which entry each part
    went to (and ``new_model`` / ``new_method`` whether it was new), so a caller can keep its own per-entry
    data (the request's JSON of a model) beside the table's."""

    def __init__(self) -> None:
        self._parts = [_Interner() for _ in range(5)]
        self._index: list[list[int]] = [[], [], [], [], []]

    def add(self, candidate: CostCandidate, *, model_key: Hashable) -> tuple[int, int, bool, bool]:
        """(model entry, method entry, whether the model entry is new, whether the method entry is new)."""
        models, methods, trainings, gpus, evaluations = self._parts
        n_models, n_methods = len(models.values), len(methods.values)
        entries = (
            models.add((candidate.architecture, candidate.model_id), model_key),
            methods.add(candidate.method, method_key(candidate.method)),
            trainings.add(candidate.training, _value_key(candidate.training)),
            gpus.add(candidate.hardware, _value_key(candidate.hardware)),
            evaluations.add(candidate.evaluation, _value_key(candidate.evaluation)),
        )
        for column, entry in zip(self._index, entries, strict=True):
            column.append(entry)
        return entries[0], entries[1], entries[0] == n_models, entries[1] == n_methods

    def build(self) -> CandidateTable:
        models, methods, trainings, gpus, evaluations = self._parts
        model, method, training, gpu, evaluation = (np.asarray(c, dtype=np.intp) for c in self._index)
        return CandidateTable(
            architectures=tuple(a for a, _ in models.values),
            model_ids=tuple(m for _, m in models.values),
            methods=tuple(methods.values),
            trainings=tuple(trainings.values),
            hardware=tuple(gpus.values),
            evaluations=tuple(evaluations.values),
            model=model,
            method=method,
            training=training,
            gpu=gpu,
            evaluation=evaluation,
        )
