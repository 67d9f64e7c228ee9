"""Features of a (base model, method, configuration, task) for the prior-tier predictor.

Base-model capability is the observational-scaling PC vector of its benchmark scores (Ruan et al.
2024, arXiv:2405.10938, Sec. 3.1) fitted on the catalog's models; size and data enter in log scale.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictors.architecture import Architecture, architecture_from_hf_config, count_parameters
from predictors.cost.schemas import TrainingConfig
from predictors.errors import InvalidInputError
from predictors.methods import METHODS, parse_method
from scaling import CapabilityPCA

__all__ = [
    "BENCHMARK_KEYS",
    "FEATURE_NAMES",
    "TASK_KINDS",
    "FeatureBuilder",
    "ModelInfo",
    "Observation",
    "chance_accuracy",
    "make_observation",
    "observed_shots",
    "sampling_variance",
]

BENCHMARK_KEYS: tuple[str, ...] = (
    "MMLU",
    "ARC-C",
    "HellaSwag",
    "Winograd",
    "TruthfulQA",
    "GSM8K",
    "XWinograd",
    "HumanEval",
)
TASK_KINDS: tuple[str, ...] = ("classification", "multiple_choice", "generation")
METHOD_CODES: dict[str, int] = {name: code for code, name in enumerate(sorted(METHODS))}
ZERO_SHOT_METHODS = frozenset(name for name, spec in METHODS.items() if spec.demonstrations == ())
PROXY_METHODS = frozenset(name for name, spec in METHODS.items() if spec.proxy)
"""Methods whose accuracy is a proxy of what the model's features support (the linear probe)."""
TRAINING_ANCHOR_METHODS = frozenset(
    name for name, spec in METHODS.items() if spec.kind == "finetune" and not spec.proxy
)
"""Methods that train the model (not a proxy): their runs fix a model's level on a task."""
FEATURE_NAMES: tuple[str, ...] = (
    "capability_pc1",
    "capability_pc2",
    "capability_pc3",
    "log10_total_params",
    "log10_training_tokens",
    "method",
    "log10_trainable_params",
    "log10_train_examples",
    "epochs",
    "shots",
    "data_fraction",
    "task_kind",
    "chance_accuracy",
    "task_mean_normalised_accuracy",
)
CATEGORICAL_FEATURES: tuple[int, ...] = (FEATURE_NAMES.index("method"), FEATURE_NAMES.index("task_kind"))
INCREASING_FEATURES: tuple[str, ...] = (
    "capability_pc1",
    "log10_total_params",
    "log10_training_tokens",
    "log10_trainable_params",
)
"""Features along which accuracy should not fall unless the data say so (issue #12 item 4): more capability,
parameters, pre-training tokens or trainable parameters. Each grows with size within a family, so a larger
model of a family is never forecast below a smaller one for the same method, data and task."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the prior needs of a base model (from the catalog or an imported config)."""

    id: str
    architecture: Architecture
    training_tokens: int | None = None
    benchmarks: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, entry: Mapping[str, Any]) -> ModelInfo:
        return cls(
            id=str(entry["id"]),
            architecture=architecture_from_hf_config(entry["architecture"]),
            training_tokens=entry.get("training_tokens"),
            benchmarks=dict(entry.get("benchmarks") or {}),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """One (candidate, task) with its outcome when known (a measurement) or to be predicted."""

    model_id: str
    method: Mapping[str, Any]
    task: str
    task_kind: str = "multiple_choice"
    n_choices: int | None = None
    accuracy: float | None = None
    train_examples: int | None = None
    epochs: float | None = None
    shots: int | None = None
    data_fraction: float | None = None
    source: str = ""
    eval_examples: int | None = None  # test examples behind a measured accuracy: its sampling error
    measurement_id: str | None = None  # the stored measurement it is, so a forecast can name its evidence
    sequences_per_step: int | None = None  # micro-batch x gradient accumulation: the optimizer's batch
    learning_rate: float | None = None  # the run's AdamW rate; None: the method's default
    optimizer_steps: int | None = None  # steps a run took, when recorded (a run's ``steps`` option overrides)

    def key(self) -> tuple[Any, ...]:
        """Every field but ``measurement_id``, hashable (the method dict as canonical JSON): equal keys,
        equal observations (an id names a row; it says nothing the predictors learn from)."""
        return (
            self.model_id,
            json.dumps(self.method, sort_keys=True, default=str),
            self.task,
            self.task_kind,
            self.n_choices,
            self.accuracy,
            self.train_examples,
            self.epochs,
            self.shots,
            self.data_fraction,
            self.source,
            self.eval_examples,
            self.sequences_per_step,
            self.learning_rate,
            self.optimizer_steps,
        )


def observed_shots(observation: Observation) -> int | None:
    """The demonstrations an observation's run had: its ``shots``, the method's ``shots`` setting, 0 for a
    zero-shot method, None for a method that takes none (a fine-tune)."""
    if observation.shots is not None:
        return observation.shots
    name = observation.method.get("name")
    if name in ZERO_SHOT_METHODS:
        return 0
    shots = observation.method.get("shots")
    return int(shots) if isinstance(shots, int | float) else None


def sampling_variance(rows: Sequence[Observation]) -> float | None:
    """Variance of the mean accuracy of ``rows`` from their test sets' binomial sampling, or None when a
    row does not say how many examples it was measured on. A probe scored on 60 examples is uncertain
    by about ±0.1 (90 %) by itself; a forecast drawn exactly through it inherits that."""
    if not rows or any(r.eval_examples is None or r.accuracy is None for r in rows):
        return None
    total = 0.0
    for row in rows:
        n = float(row.eval_examples or 1)
        p = (float(row.accuracy or 0.0) * n + 0.5) / (n + 1.0)  # shrunk off 0 and 1: a 0/60 score is not certain
        total += p * (1.0 - p) / n
    return total / len(rows) ** 2


def make_observation(
    *,
    model_id: str,
    method: Mapping[str, Any],
    task: str,
    task_kind: str = "multiple_choice",
    n_choices: int | None = None,
    training: Mapping[str, Any] | None = None,
    task_train_examples: int | None = None,
    accuracy: float | None = None,
    source: str = "",
    eval_examples: int | None = None,
    measurement_id: str | None = None,
    learning_rate: float | None = None,
    optimizer_steps: int | None = None,
) -> Observation:
    """One observation from a candidate's parts. Training settings only describe methods that train, so a
    zero-shot or ICL candidate is identified by its method (and shots) alone; ``learning_rate`` and
    ``optimizer_steps`` are a run's (run options, stored with its measurement), None for the defaults."""
    training = training or {}
    method = dict(method)
    spec = METHODS.get(str(method.get("name")))
    if spec is None or spec.kind != "finetune":
        shots = method.get("shots", 0 if method.get("name") in ZERO_SHOT_METHODS else None)
        return Observation(
            model_id=model_id,
            method=method,
            task=task,
            task_kind=task_kind,
            n_choices=n_choices,
            accuracy=accuracy,
            shots=int(shots) if isinstance(shots, int | float) else None,
            source=source,
            eval_examples=eval_examples,
            measurement_id=measurement_id,
        )
    # Examples trained on: the training set (``training.train_examples``, else the task's) times the share of
    # it used, as the cost model and the workers read them.
    fraction = training.get("data_fraction")
    train_set = training.get("train_examples")
    if train_set is None:
        train_set = task_train_examples
    train_examples = (
        max(1, round(train_set * (fraction if fraction is not None else 1.0))) if train_set is not None else None
    )
    batch, accumulation = (_positive(training.get(k)) for k in ("micro_batch_size", "gradient_accumulation_steps"))
    sequences_per_step = (
        int(batch or TrainingConfig.model_fields["micro_batch_size"].default) * int(accumulation or 1)
        if batch or accumulation
        else None
    )
    return Observation(
        model_id=model_id,
        method=method,
        task=task,
        task_kind=task_kind,
        n_choices=n_choices,
        accuracy=accuracy,
        train_examples=train_examples,
        epochs=training.get("epochs"),
        data_fraction=fraction,
        source=source,
        eval_examples=eval_examples,
        measurement_id=measurement_id,
        sequences_per_step=sequences_per_step,
        learning_rate=_positive(learning_rate),
        optimizer_steps=int(steps) if (steps := _positive(optimizer_steps)) else None,
    )


def _positive(value: Any) -> float | None:
    """A stored setting as a number, or None when it is missing or not a positive number (an imported
    measurement's candidate is free-form)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def chance_accuracy(task_kind: str, n_choices: int | None) -> float:
    """Accuracy of guessing: 1/n_choices for classification and multiple choice, 0 for generation."""
    if task_kind == "generation" or not n_choices:
        return 0.0
    return 1.0 / n_choices


def _log10(value: float | None) -> float:
    return math.log10(value) if value is not None and value > 0 else math.nan


class FeatureBuilder:
    """Turns observations into the prior's feature matrix; knows the catalog's models.

    Parameters
    ----------
    models : mapping of model id to :class:`ModelInfo`
    n_components : int
        Capability PCs kept (3, as the observational-scaling paper).
    """

    def __init__(self, models: Mapping[str, ModelInfo], *, n_components: int = 3) -> None:
        self.models = dict(models)
        self.n_components = n_components
        rows = [m for m in self.models.values() if sum(k in m.benchmarks for k in BENCHMARK_KEYS) >= 4]
        self.capabilities_: dict[str, NDArray[np.float64]] = {}
        if len(rows) > n_components:
            matrix = np.array([[m.benchmarks.get(k, np.nan) for k in BENCHMARK_KEYS] for m in rows], dtype=float)
            scores = CapabilityPCA(n_components=n_components).fit_transform(matrix)
            self.capabilities_ = {m.id: scores[i] for i, m in enumerate(rows)}
        self._counts = {mid: count_parameters(m.architecture) for mid, m in self.models.items()}
        self.capability_from_compute_ = self._fit_capability_from_compute()
        self._impute_capabilities(list(self.models))
        self._fractions: dict[tuple[str, str], float] = {}

    def _compute_design(self, model_id: str) -> list[float] | None:
        """[1, log10 N, log10 D] of a model whose size and pre-training tokens are known."""
        model = self.models[model_id]
        if not model.training_tokens:
            return None
        return [1.0, math.log10(self._counts[model_id].total_params), math.log10(model.training_tokens)]

    def _fit_capability_from_compute(self) -> NDArray[np.float64] | None:
        """Least-squares map from [1, log10 N, log10 D] to PC1 over the models with benchmark scores.

        Within a family the PCs are linear in log compute (Ruan et al. 2024, arXiv:2405.10938, Sec. 3.2:
        S ≈ θ_f·log C + ν_f); for a model without scores we use one such map across families. Without it a
        model with no scores falls into LightGBM's missing-value branch, shared with encoders fine-tuned on
        easy GLUE tasks, and a 0.5B model was forecast above an 8B one (issue #12)."""
        scored = [mid for mid in sorted(self.capabilities_) if self._compute_design(mid) is not None]
        if len(scored) <= 3:
            return None
        design = np.array([self._compute_design(mid) for mid in scored], dtype=float)
        pc1 = np.array([self.capabilities_[mid][0] for mid in scored], dtype=float)
        return np.asarray(np.linalg.lstsq(design, pc1, rcond=None)[0], dtype=float)

    def _impute_capabilities(self, model_ids: Sequence[str]) -> None:
        """PC1 from compute for the unscored ``model_ids``; the secondary PCs, which are not monotone in
        compute, stay at the scored models' mean (0), so the order within a family is the order of size."""
        if self.capability_from_compute_ is None:
            return
        for mid in sorted(model_ids):
            row = self._compute_design(mid)
            if mid not in self.capabilities_ and row is not None:
                pc1 = float(np.dot(row, self.capability_from_compute_))
                self.capabilities_[mid] = np.array([pc1, *[0.0] * (self.n_components - 1)])

    def with_models(self, models: Mapping[str, ModelInfo]) -> FeatureBuilder:
        """A copy that also knows ``models`` (capabilities stay those fitted on the catalog; an unscored new
        model gets its PC1 from compute)."""
        extended = copy.copy(self)
        extended.models = {**self.models, **models}
        extended._counts = {**self._counts, **{mid: count_parameters(m.architecture) for mid, m in models.items()}}
        extended._fractions = {k: v for k, v in self._fractions.items() if k[0] not in models}
        extended.capabilities_ = dict(self.capabilities_)
        extended._impute_capabilities(list(models))
        return extended

    def _trainable_fraction(self, model_id: str, method: Mapping[str, Any], total: float) -> float:
        """Trainable / total parameters, memoised per (model, method): plans repeat them across configs."""
        key = (model_id, json.dumps(method, sort_keys=True, default=str))
        cached = self._fractions.get(key)
        if cached is None:
            spec = METHODS[str(method["name"])]
            try:
                config = parse_method(dict(method))
                trainable = spec.trainable_params(self.models[model_id].architecture, config)
            except InvalidInputError:
                trainable = 0
            cached = max(trainable / total, 1e-9) if spec.kind == "finetune" else 1e-9
            self._fractions[key] = cached
        return cached

    def _model_method_features(self, model_id: str, method: Mapping[str, Any], field: str) -> list[float]:
        """The features fixed by the model and the method: capability PCs, log size, log pre-training tokens,
        the method's code and its log trainable parameters."""
        method_name = str(method.get("name", ""))
        if method_name not in METHOD_CODES:
            raise InvalidInputError(f"{field}method.name", f"unknown method {method_name!r}")
        model = self.models.get(model_id)
        capability = self.capabilities_.get(model_id, np.full(self.n_components, np.nan))
        trainable = total = math.nan
        tokens = None
        if model is not None:
            total = float(self._counts[model_id].total_params)
            trainable = self._trainable_fraction(model_id, method, total) * total
            tokens = model.training_tokens
        return [
            *[float(v) for v in capability[: self.n_components]],
            _log10(total),
            _log10(tokens),
            float(METHOD_CODES[method_name]),
            _log10(trainable),
        ]

    def matrix(
        self, observations: Sequence[Observation], *, task_means: Sequence[float] | None = None
    ) -> NDArray[np.float64]:
        """Feature rows (columns :data:`FEATURE_NAMES`); ``task_means`` gives each row's task-difficulty
        feature (NaN when unknown). Built column by column: what the model and method fix once per
        distinct pair, the rest as arrays."""
        n = len(observations)
        pairs: dict[tuple[str, str], int] = {}
        pair_rows: list[list[float]] = []
        pair_of = np.empty(n, dtype=np.intp)
        for i, o in enumerate(observations):
            key = (o.model_id, json.dumps(o.method, sort_keys=True, default=str))
            j = pairs.get(key)
            if j is None:
                j = pairs[key] = len(pair_rows)
                pair_rows.append(self._model_method_features(o.model_id, o.method, f"[{i}]."))
            pair_of[i] = j
        fixed = np.asarray(pair_rows, dtype=float).reshape(len(pair_rows), self.n_components + 4)[pair_of]

        def optional(values: list[Any]) -> NDArray[np.float64]:
            return np.asarray([math.nan if v is None else float(v) for v in values], dtype=float)

        kinds = [o.task_kind if o.task_kind in TASK_KINDS else "multiple_choice" for o in observations]
        shots = [0 if o.shots is None and o.method.get("name") in ZERO_SHOT_METHODS else o.shots for o in observations]
        train_examples = optional([o.train_examples for o in observations])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_examples = np.where(train_examples > 0, np.log10(train_examples), math.nan)
        columns = [
            log_examples,
            optional([o.epochs for o in observations]),
            optional(shots),
            optional([o.data_fraction for o in observations]),
            np.asarray([float(TASK_KINDS.index(k)) for k in kinds], dtype=float),
            np.asarray(
                [chance_accuracy(k, o.n_choices) for k, o in zip(kinds, observations, strict=True)], dtype=float
            ),
            np.asarray(task_means if task_means is not None else [math.nan] * n, dtype=float),
        ]
        return np.column_stack([fixed, *columns]).reshape(n, len(FEATURE_NAMES))
