"""The cost model's inputs (a candidate) and output (CostEstimate), with the PRODUCT.md contract names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods import parse_method
from predictors.methods.base import MethodConfig
from predictors.validation import EdgeModel

__all__ = [
    "CostCandidate",
    "CostEstimate",
    "EvaluationConfig",
    "HardwareRequest",
    "MemoryBreakdown",
    "Precision",
    "TrainingConfig",
    "parse_candidate",
]

Precision = Literal["fp32", "bf16-mixed", "bf16", "fp16", "int8", "nf4"]


class TrainingConfig(EdgeModel):
    """How a candidate trains (Candidate ``training``); every size bounded so no input can overflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    micro_batch_size: int = Field(8, ge=1, le=65_536, description="Sequences per GPU per forward/backward.")
    seq_len: int = Field(512, ge=1, le=4_194_304, description="Tokens per training sequence (after packing/padding).")
    gradient_checkpointing: bool = Field(False, description="Recompute each block in backward; keep only block inputs.")
    precision: Precision = Field(
        "bf16",
        description="fp32; bf16-mixed (fp32 master weights, bf16 autocast); bf16/fp16 (pure); int8/nf4 (quantised frozen base).",
    )
    optimizer: Literal["adamw", "adamw_8bit", "sgd"] = Field("adamw", description="Optimizer of the trainable weights.")
    epochs: float = Field(1.0, gt=0, le=10_000, description="Passes over the (fractional) training set.")
    data_fraction: float = Field(1.0, gt=0, le=1, description="Fraction of the training set used.")
    gradient_accumulation_steps: int = Field(1, ge=1, le=65_536, description="Micro-batches per optimizer step.")
    train_examples: int | None = Field(
        None, ge=1, le=10**12, description="Training examples, each one sequence of seq_len tokens (padded)."
    )
    dataset_tokens: int | None = Field(
        None, ge=1, le=10**15, description="Training tokens when packed; takes precedence over train_examples."
    )
    attention: Literal["sdpa", "eager", "flash"] = Field(
        "sdpa", description="Attention kernel: sdpa/flash keep no score matrix; eager keeps the probabilities."
    )
    sharding: Literal["ddp", "zero1", "zero2", "zero3", "fsdp"] = Field(
        "ddp", description="How state is split across hardware.count GPUs (ZeRO stages, FSDP full shard)."
    )


class EvaluationConfig(EdgeModel):
    """Evaluation / inference workload of a candidate (COSMOS c_eval; per-query serving cost)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eval_queries: int = Field(1000, ge=0, le=10**10, description="Queries evaluated after adaptation.")
    prompt_tokens: int = Field(
        256, ge=1, le=4_194_304, description="Mean prompt tokens per query (without demonstrations)."
    )
    output_tokens: int = Field(16, ge=0, le=1_048_576, description="Mean generated tokens per query.")
    batch_size: int = Field(8, ge=1, le=65_536, description="Queries decoded together.")


class HardwareRequest(EdgeModel):
    """Candidate ``hardware``: a catalog GPU id and how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu: str = Field(..., min_length=1, max_length=100, description="Hardware catalog id, e.g. H200.")
    count: int = Field(1, ge=1, le=65_536, description="GPUs used data-parallel.")


@dataclass(frozen=True, slots=True)
class CostCandidate:
    """One model × method × configuration × hardware to cost (the domain form of PRODUCT's Candidate)."""

    architecture: Architecture
    model_id: str
    method: MethodConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)
    hardware: HardwareRequest = field(default_factory=lambda: HardwareRequest(gpu="H100-SXM"))
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


class MemoryBreakdown(BaseModel):
    """Bytes per GPU at the peak instant of a step, by what holds them; the fields sum to the peak."""

    model_config = ConfigDict(frozen=True)

    weights: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    kv_cache: int
    overhead: int


class CostEstimate(BaseModel):
    """The cost of one candidate (PRODUCT.md CostEstimate, plus extra fields named with units)."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    method: str
    total_params: int
    trainable_params: int
    tokens_per_step: int
    train_flops_per_step: float
    peak_memory_bytes: int
    memory_breakdown: MemoryBreakdown
    fits: bool
    max_micro_batch_that_fits: int
    step_time_s: float
    tokens_per_s: float
    train_gpu_hours: float
    train_usd: float
    inference_flops_per_query: float
    inference_usd_per_1k_queries: float
    assumptions: list[str]
    # extras
    active_params: int
    added_params: int
    allocated_bytes: int
    train_steps: int
    train_tokens: float
    train_flops_total: float
    eval_gpu_hours: float
    eval_usd: float
    total_usd: float
    bound: Literal["compute", "memory", "none"]
    # the roofline terms of one micro-step, so a measured step can refit the efficiency calibration
    ideal_compute_s: float = 0.0
    ideal_memory_s: float = 0.0
    kernel_launches: int = 0


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], data: Any, field_path: str) -> _M:
    if isinstance(data, model):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(field_path, "must be an object")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InvalidInputError(f"{field_path}.{location}" if location else field_path, first["msg"]) from None


def parse_candidate(
    data: Mapping[str, Any], *, architecture: Architecture, model_id: str, field: str = "candidate"
) -> CostCandidate:
    """Validate a Candidate's ``method``/``training``/``hardware``/``evaluation`` objects into a :class:`CostCandidate`.

    The caller resolves ``model`` (catalog id or inline config) to ``architecture``. Every error is an
    :class:`InvalidInputError` whose field is a dotted path under ``field`` (``candidates[3].training.seq_len``).
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(field, "must be an object")
    if "hardware" not in data:
        raise InvalidInputError(f"{field}.hardware", "is required ({'gpu': <catalog id>, 'count': n})")
    try:
        method = parse_method(data.get("method"), field=f"{field}.method")
    except InvalidInputError as exc:
        if exc.field.startswith(field):
            raise
        raise InvalidInputError(f"{field}.{exc.field}", exc.message) from None
    return CostCandidate(
        architecture=architecture,
        model_id=model_id,
        method=method,
        training=_parse(TrainingConfig, data.get("training"), f"{field}.training"),
        hardware=_parse(HardwareRequest, data.get("hardware"), f"{field}.hardware"),
        evaluation=_parse(EvaluationConfig, data.get("evaluation"), f"{field}.evaluation"),
    )
