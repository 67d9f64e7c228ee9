"""The cost model over arrays: every :class:`CostEstimate` field as a column, for a whole candidate table.

A candidate's cost is arithmetic on a handful of numbers once its architecture and method are fixed.
So candidates are grouped by what fixes their per-layer terms and their branches (architecture, method,
precision, attention kernel, checkpointing, optimizer, sharding); each group contributes a few scalars
(parameter counts, the training pass as a polynomial in the micro-batch shape, the persistent memory
state, calibration factors), which are gathered into one entry per candidate; then parameter counts,
FLOPs, the memory terms, fit verdicts, step times, GPU-hours and dollars are evaluated for every
candidate at once, over arrays of training configurations × hardware.

:func:`predictors.cost.estimate_cost` stays the per-candidate reference: ``tests/predictors/
test_cost_columns.py`` checks both agree to 1e-9 on every field of thousands of random candidates.
:meth:`CostColumns.estimate` builds one :class:`CostEstimate` (with its ``assumptions``) where a row is
shown.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictors.architecture import ParameterCount
from predictors.cost.calibration import EfficiencyCalibration, default_calibration, method_family
from predictors.cost.counts import decoder_matmul_flops_per_token, parameter_counts
from predictors.cost.estimate import (
    DEFAULT_TRAIN_EXAMPLES,
    _api_pricing,
    _method_terms,
    candidate_assumptions,
    compute_precision_of,
    inference_weight_bytes,
    new_adapter_params,
)
from predictors.cost.hardware import HardwareSpec
from predictors.cost.memory import (
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION_FRACTION,
    MemoryScalars,
    memory_scalars,
    quantized_base,
    training_memory_columns,
)
from predictors.cost.money import api_finetune_usd
from predictors.cost.passes import PassColumns, PassPolynomial, forward_kernel_launches, training_pass_polynomial
from predictors.cost.schemas import CostCandidate, CostEstimate, MemoryBreakdown
from predictors.cost.table import CandidateTable
from predictors.errors import InvalidInputError
from predictors.methods import get_method
from predictors.methods.base import CostTerms, MethodSpec

__all__ = ["COLUMNS", "CostColumns", "estimate_cost_columns"]

Array = NDArray[np.float64]

COLUMNS: tuple[str, ...] = (
    "total_params",
    "active_params",
    "trainable_params",
    "added_params",
    "tokens_per_step",
    "train_flops_per_step",
    "peak_memory_bytes",
    "allocated_bytes",
    "weights_bytes",
    "gradients_bytes",
    "optimizer_bytes",
    "activations_bytes",
    "logits_bytes",
    "kv_cache_bytes",
    "overhead_bytes",
    "fits",
    "max_micro_batch_that_fits",
    "step_time_s",
    "tokens_per_s",
    "train_steps",
    "train_tokens",
    "train_flops_total",
    "train_gpu_hours",
    "train_usd",
    "inference_flops_per_query",
    "inference_usd_per_1k_queries",
    "eval_gpu_hours",
    "eval_usd",
    "total_usd",
    "compute_bound",
    "ideal_compute_s",
    "ideal_memory_s",
    "kernel_launches",
)
"""One float64 column per numeric :class:`CostEstimate` field (the memory breakdown as ``*_bytes``;
``fits`` and ``compute_bound`` as 0/1; integer fields hold whole numbers)."""

_BREAKDOWN = ("weights", "gradients", "optimizer", "activations", "logits", "kv_cache", "overhead")
_INT_FIELDS = (
    "total_params",
    "active_params",
    "trainable_params",
    "added_params",
    "tokens_per_step",
    "peak_memory_bytes",
    "allocated_bytes",
    "max_micro_batch_that_fits",
    "train_steps",
    "kernel_launches",
)
_KINDS = {"finetune": 0, "inference": 1, "api": 2}
_PEAKS = ("fp32", "fp16", "bf16")  # what HardwareSpec.peak_flops_per_s distinguishes
_MAX_SAVED = 4  # distinct block kinds whose saved bytes the largest is taken over (segments × flag changes)


@dataclass(eq=False)
class CostColumns:
    """The costs of every candidate of ``table``: ``values[name]`` is one column of :data:`COLUMNS`."""

    table: CandidateTable
    values: dict[str, Array]
    hardware: Mapping[str, HardwareSpec]
    calibration: EfficiencyCalibration
    _estimates: dict[int, CostEstimate] = field(default_factory=dict)
    _terms: dict[tuple[int, int], CostTerms] = field(default_factory=dict)
    _stacked: Array | None = None

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, name: str) -> Array:
        return self.values[name]

    @classmethod
    def from_estimates(
        cls,
        table: CandidateTable,
        estimates: list[CostEstimate],
        *,
        hardware: Mapping[str, HardwareSpec],
        calibration: EfficiencyCalibration,
    ) -> CostColumns:
        """Columns of estimates made one by one (the per-candidate reference; small tables, benchmarks, tests)."""
        values: dict[str, list[float]] = {name: [] for name in COLUMNS}
        for e in estimates:
            row = e.model_dump()
            for name in _BREAKDOWN:
                row[f"{name}_bytes"] = row["memory_breakdown"][name]
            row["compute_bound"] = e.bound == "compute"
            for name in COLUMNS:
                values[name].append(float(row[name]))
        columns = cls(table, {k: np.asarray(v, dtype=float) for k, v in values.items()}, hardware, calibration)
        columns._estimates.update(enumerate(estimates))
        return columns

    def estimate(self, i: int) -> CostEstimate:
        """Candidate ``i``'s :class:`CostEstimate` (what :func:`estimate_cost` returns for it)."""
        cached = self._estimates.get(i)
        if cached is not None:
            return cached
        candidate = self.table.candidate(i)
        spec = get_method(candidate.method.name)
        pair = (int(self.table.model[i]), int(self.table.method[i]))
        terms = self._terms.get(pair)
        if terms is None:
            terms = self._terms[pair] = _method_terms(candidate.architecture, candidate.method, spec)[1]
        if self._stacked is None:
            self._stacked = np.stack([self.values[name] for name in COLUMNS])
        v = dict(zip(COLUMNS, self._stacked[:, i].tolist(), strict=True))
        ints = {name: int(v[name]) for name in _INT_FIELDS}
        estimate = CostEstimate(
            model_id=candidate.model_id,
            method=candidate.method.name,
            total_params=ints["total_params"],
            trainable_params=ints["trainable_params"],
            tokens_per_step=ints["tokens_per_step"],
            train_flops_per_step=v["train_flops_per_step"],
            peak_memory_bytes=ints["peak_memory_bytes"],
            memory_breakdown=MemoryBreakdown(**{name: int(v[f"{name}_bytes"]) for name in _BREAKDOWN}),
            fits=bool(v["fits"]),
            max_micro_batch_that_fits=ints["max_micro_batch_that_fits"],
            step_time_s=v["step_time_s"],
            tokens_per_s=v["tokens_per_s"],
            train_gpu_hours=v["train_gpu_hours"],
            train_usd=v["train_usd"],
            inference_flops_per_query=v["inference_flops_per_query"],
            inference_usd_per_1k_queries=v["inference_usd_per_1k_queries"],
            assumptions=candidate_assumptions(
                candidate,
                spec=spec,
                terms=terms,
                hardware=self.hardware[candidate.hardware.gpu],
                calibration=self.calibration,
            ),
            active_params=ints["active_params"],
            added_params=ints["added_params"],
            allocated_bytes=ints["allocated_bytes"],
            train_steps=ints["train_steps"],
            train_tokens=v["train_tokens"],
            train_flops_total=v["train_flops_total"],
            eval_gpu_hours=v["eval_gpu_hours"],
            eval_usd=v["eval_usd"],
            total_usd=v["total_usd"],
            bound="none" if spec.kind != "finetune" else ("compute" if v["compute_bound"] else "memory"),
            ideal_compute_s=v["ideal_compute_s"],
            ideal_memory_s=v["ideal_memory_s"],
            kernel_launches=ints["kernel_launches"],
        )
        self._estimates[i] = estimate
        return estimate


# ------------------------------------------------------------------------------------------ per-candidate inputs


def _gather(values: list[Any], index: NDArray[np.intp], dtype: Any = float) -> NDArray[Any]:
    return np.asarray(values, dtype=dtype)[index]


def _inputs(table: CandidateTable, hardware: Mapping[str, HardwareSpec]) -> dict[str, NDArray[Any]]:
    """The training, hardware and evaluation settings of every candidate (gathered by index)."""
    t, e = table.trainings, table.evaluations
    specs = [hardware[h.gpu] for h in table.hardware]

    def optional(values: list[int | None]) -> list[float]:
        return [math.nan if value is None else float(value) for value in values]

    inputs: dict[str, NDArray[Any]] = {
        "batch": _gather([c.micro_batch_size for c in t], table.training),
        "seq_len": _gather([c.seq_len for c in t], table.training),
        "accumulation": _gather([c.gradient_accumulation_steps for c in t], table.training),
        "epochs": _gather([c.epochs for c in t], table.training),
        "data_fraction": _gather([c.data_fraction for c in t], table.training),
        "train_examples": _gather(optional([c.train_examples for c in t]), table.training),
        "dataset_tokens": _gather(optional([c.dataset_tokens for c in t]), table.training),
        "n_gpus": _gather([h.count for h in table.hardware], table.gpu),
        "memory_bytes": _gather([s.memory_bytes for s in specs], table.gpu),
        "usd_per_hour": _gather([s.usd_per_hour for s in specs], table.gpu),
        "hbm_bytes_per_s": _gather([s.hbm_bytes_per_s for s in specs], table.gpu),
        "is_cuda": _gather([s.is_cuda for s in specs], table.gpu, bool),
        "prompt_tokens": _gather([c.prompt_tokens for c in e], table.evaluation),
        "output_tokens": _gather([c.output_tokens for c in e], table.evaluation),
        "eval_batch": _gather([c.batch_size for c in e], table.evaluation),
        "eval_queries": _gather([c.eval_queries for c in e], table.evaluation),
    }
    for precision in _PEAKS:
        inputs[f"peak_{precision}"] = _gather([s.peak_flops_per_s(precision) for s in specs], table.gpu)
    return inputs


def _groups(table: CandidateTable) -> tuple[NDArray[np.intp], list[int]]:
    """(group of each candidate, one member of each group): a group shares architecture, method and the
    training settings that pick the cost model's branches (precision, attention, checkpointing, optimizer,
    sharding)."""
    classes: dict[tuple[Any, ...], int] = {}
    class_of = np.asarray(
        [
            classes.setdefault(
                (t.precision, t.attention, t.gradient_checkpointing, t.optimizer, t.sharding), len(classes)
            )
            for t in table.trainings
        ],
        dtype=np.intp,
    )[table.training]
    key = (table.model * len(table.methods) + table.method) * max(len(classes), 1) + class_of
    _, first, group_of = np.unique(key, return_index=True, return_inverse=True)
    return group_of.astype(np.intp), [int(i) for i in first]


# ------------------------------------------------------------------------------------------ per-group scalars


class _GroupError(Exception):
    def __init__(self, index: int, field_name: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field_name, self.message = index, field_name, message


_ZERO_MEMORY = MemoryScalars(
    compute_bytes=2.0,
    weights=0.0,
    gradients=0.0,
    optimizer=0.0,
    fp32_linear=0.0,
    n_layers=1.0,
    shard_optimizer=False,
    shard_gradients=False,
    gather_weights=False,
    checkpointing=False,
    residual_bytes=2.0,
    vocab=0.0,
    hidden=0.0,
    kv_bytes_per_token=0.0,
    prefix_tokens=0.0,
)


_MEMORY_FIELDS = tuple(f.name for f in fields(MemoryScalars))


def _pass_scalars(polynomial: PassPolynomial | None) -> dict[str, float]:
    """A group's training pass as named scalars: the coefficients, the largest-block candidates padded with
    zeros (all zero for a method that does not train)."""
    zero = (0.0, 0.0, 0.0, 0.0)
    coefficients: dict[str, tuple[float, ...]] = {
        name: getattr(polynomial, name) if polynomial is not None else zero
        for name in ("forward", "backward", "recompute", "layers_saved", "head_saved")
    }
    largest = list(polynomial.max_layer_saved) if polynomial is not None else []
    if len(largest) > _MAX_SAVED:
        raise RuntimeError(f"{len(largest)} distinct block kinds: raise _MAX_SAVED")
    for k, coef in enumerate([*largest, *[zero] * (_MAX_SAVED - len(largest))]):
        coefficients[f"max_saved_{k}"] = coef
    scalars = {f"{name}_{j}": value for name, coef in coefficients.items() for j, value in enumerate(coef)}
    scalars["backward_layers"] = float(polynomial.backward_layers) if polynomial is not None else 0.0
    scalars["kernel_launches"] = float(polynomial.kernel_launches) if polynomial is not None else 0.0
    scalars["computes_logits"] = float(polynomial.computes_logits) if polynomial is not None else 0.0
    return scalars


def _check_group(
    table: CandidateTable,
    member: int,
    not_cuda: NDArray[np.intp],
    spec: MethodSpec,
    terms: CostTerms,
    *,
    precision: str,
) -> None:
    """estimate.py's refusals for a whole group, naming its first candidate that cannot run (``not_cuda``:
    the group's members on a GPU that is not CUDA)."""
    method = table.candidate(member).method
    quantized = quantized_base(terms, precision)
    if quantized and len(not_cuda):
        index = int(not_cuda.min())
        raise _GroupError(
            index,
            "method.name" if terms.quantized_base else "training.precision",
            f"{quantized} quantisation (bitsandbytes) needs a CUDA GPU; {table.candidate(index).hardware.gpu} is not one",
        )
    if spec.base_weights_trainable and precision in {"int8", "nf4"}:
        raise _GroupError(
            member,
            "training.precision",
            f"{method.name} trains the base weights, which cannot be stored as {precision}",
        )


def _training_scalars(
    candidate: CostCandidate,
    counts: ParameterCount,
    terms: CostTerms,
    *,
    trainable_params: int,
    added_params: int,
    compute_precision: str,
) -> tuple[PassPolynomial, MemoryScalars]:
    """A fine-tune group's training pass as a polynomial in the micro-batch shape, and its memory scalars."""
    arch, training = candidate.architecture, candidate.training
    precision = training.precision
    trace_precision = compute_precision if precision not in {"fp32", "bf16-mixed"} else precision
    polynomial = training_pass_polynomial(
        arch,
        terms,
        precision=trace_precision,
        attention=training.attention,
        gradient_checkpointing=training.gradient_checkpointing,
    )
    memory = memory_scalars(
        arch,
        counts,
        terms,
        precision=precision if not terms.quantized_base else compute_precision,
        optimizer=training.optimizer,
        gradient_checkpointing=training.gradient_checkpointing,
        backward_layers=polynomial.backward_layers,
        trainable_params=trainable_params,
        added_params=added_params,
        sharding=training.sharding,
        double_quant=terms.double_quant,
    )
    return polynomial, memory


def _group_scalars(
    table: CandidateTable,
    member: int,
    is_cuda: NDArray[np.bool_],
    group_members: NDArray[np.intp],
    calibration: EfficiencyCalibration,
) -> dict[str, float]:
    """Everything one group's candidates share, as named scalars (see estimate.py's ``estimate_cost``)."""
    candidate = table.candidate(member)
    arch, training, method = candidate.architecture, candidate.training, candidate.method
    spec = get_method(method.name)
    counts = parameter_counts(arch)
    try:
        trainable, terms = _method_terms(arch, method, spec)
    except InvalidInputError as exc:
        raise _GroupError(member, exc.field, exc.message) from None
    precision = training.precision
    quantized = quantized_base(terms, precision)
    _check_group(table, member, group_members[~is_cuda[group_members]], spec, terms, precision=precision)
    added = new_adapter_params(spec, terms, trainable)
    compute_precision = compute_precision_of(precision, terms)
    weights_inference = inference_weight_bytes(
        arch, counts, quantized=quantized, precision=precision, fp32_params=added + terms.added_frozen_params
    )
    polynomial = memory = None
    if spec.kind == "finetune":
        polynomial, memory = _training_scalars(
            candidate,
            counts,
            terms,
            trainable_params=trainable,
            added_params=added,
            compute_precision=compute_precision,
        )
    a, b, g, h = calibration.coefficients(method_family(method.name))
    shots = terms.prompt_tokens
    return {
        "kind": float(_KINDS[spec.kind]),
        "total_params": float(counts.total_params),
        "active_params": float(counts.active_params),
        "trainable_params": float(trainable),
        "added_params": float(added),
        "weights_inference": weights_inference,
        "virtual_tokens": float(terms.input_virtual_tokens),
        "prefix_tokens": float(terms.prefix_tokens),
        "demonstration_tokens": float(shots),
        "per_token_flops": decoder_matmul_flops_per_token(arch),
        "attention_per_pair": 4.0 * arch.num_hidden_layers * arch.num_attention_heads * arch.head_dim,
        "head_flops": 2.0 * arch.hidden_size * arch.vocab_size,
        "kv_per_context": 2.0 * arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim,
        "hidden4": 4.0 * arch.hidden_size,
        "vocab6": 6.0 * arch.vocab_size,
        "forward_launches": float(forward_kernel_launches(arch)),
        "peak_key": float(_PEAKS.index(compute_precision if compute_precision in {"fp32", "fp16"} else "bf16")),
        "train_a": a,
        "train_b": b,
        "train_g": g,
        "train_h": h,
        **{f"memory_{name}": float(getattr(memory or _ZERO_MEMORY, name)) for name in _MEMORY_FIELDS},
        **_pass_scalars(polynomial),
    }


# ------------------------------------------------------------------------------------------ the columns


def _predict(
    coef: tuple[float, float, float, float] | tuple[Array, ...], compute: Array, memory: Array, launches: Array
) -> Array:
    """:meth:`EfficiencyCalibration.predict_one` over arrays."""
    a, b, g, h = coef
    return np.asarray(np.maximum(a * compute + b * memory + g * launches, h * launches), dtype=float)


def _inference(
    x: Mapping[str, NDArray[Any]], s: Mapping[str, Array], calibration: EfficiencyCalibration
) -> dict[str, Array]:
    """estimate.py's ``_inference`` over every candidate: FLOPs, seconds and dollars per query."""
    prompt = x["prompt_tokens"] + s["virtual_tokens"]
    prompt = prompt + s["demonstration_tokens"]
    keys = prompt + s["prefix_tokens"]
    out = x["output_tokens"]
    per_token, pair, head = s["per_token_flops"], s["attention_per_pair"], s["head_flops"]
    prefill = prompt * per_token + pair * prompt * keys + head
    decode_linear = out * (per_token + head)
    decode_attention = pair * (out * keys + out * (out - 1) / 2.0)
    batch = x["eval_batch"]
    kv = s["kv_per_context"] * (keys + out) * batch * 2
    peak, hbm, launches = x["peak_bf16"], x["hbm_bytes_per_s"], s["forward_launches"]
    weights = s["weights_inference"]
    prefill_s = _predict(calibration.coefficients("prefill"), prefill * batch / peak, (weights + kv) / hbm, launches)
    decode_step_s = _predict(
        calibration.coefficients("decode"),
        (decode_linear + decode_attention) / np.maximum(out, 1.0) * batch / peak,
        (weights + kv / 2.0) / hbm,
        launches,
    )
    seconds_per_query = (prefill_s + out * decode_step_s) / batch
    eval_gpu_hours = seconds_per_query * x["eval_queries"] / 3600.0
    return {
        "inference_flops_per_query": prefill + decode_linear + decode_attention,
        "inference_usd_per_1k_queries": seconds_per_query * 1000.0 / 3600.0 * x["usd_per_hour"],
        "eval_gpu_hours": eval_gpu_hours,
        "eval_usd": eval_gpu_hours * x["usd_per_hour"],
        "prompt": prompt,
    }


def _serving_memory(
    x: Mapping[str, NDArray[Any]], s: Mapping[str, Array], prompt: Array, usable: Array
) -> dict[str, Array]:
    """The memory of a method that does not train (zero-shot, ICL, an API fine-tune served here)."""
    batch = x["eval_batch"]
    kv = s["kv_per_context"] * (prompt + x["output_tokens"]) * batch * 2
    acts = s["hidden4"] * (batch * prompt)
    logits = s["vocab6"] * batch
    weights = s["weights_inference"]
    allocated = weights + kv + acts + logits
    overhead = float(CUDA_CONTEXT_BYTES) + FRAGMENTATION_FRACTION * allocated
    per_query = (allocated - weights) / np.maximum(batch, 1.0)
    fits_batch = np.floor_divide(usable - weights, np.where(per_query > 0, per_query, 1.0))
    zero = np.zeros_like(allocated)
    return {
        "peak_memory_bytes": allocated + overhead,
        "allocated_bytes": allocated,
        "weights_bytes": weights + zero,
        "gradients_bytes": zero,
        "optimizer_bytes": zero,
        "activations_bytes": acts,
        "logits_bytes": logits,
        "kv_cache_bytes": kv,
        "overhead_bytes": overhead,
        "fits": ((allocated + overhead) <= x["memory_bytes"]).astype(float),
        "max_micro_batch_that_fits": np.where(per_query > 0, np.maximum(fits_batch, 0.0), 0.0),
    }


def _pass_columns(x: Mapping[str, NDArray[Any]], s: Mapping[str, Array]) -> PassColumns:
    """Every candidate's training pass from its group's polynomial (:meth:`PassPolynomial.evaluate`)."""
    s_q = x["seq_len"] + s["virtual_tokens"]
    tokens = x["batch"] * s_q
    keys = x["batch"] * (s_q + s["prefix_tokens"])
    pairs = tokens * (s_q + s["prefix_tokens"])

    def value(prefix: str) -> Array:
        return np.asarray(
            s[f"{prefix}_0"] * tokens + s[f"{prefix}_1"] * keys + s[f"{prefix}_2"] * pairs + s[f"{prefix}_3"],
            dtype=float,
        )

    largest = np.zeros_like(tokens)
    for k in range(_MAX_SAVED):
        largest = np.maximum(largest, value(f"max_saved_{k}"))
    return PassColumns(
        forward_flops=value("forward"),
        backward_flops=value("backward"),
        recompute_flops=value("recompute"),
        layers_saved_bytes=value("layers_saved"),
        max_layer_saved_bytes=largest,
        head_saved_bytes=value("head_saved"),
        logit_tokens=tokens * s["computes_logits"],
        backward_layers=s["backward_layers"],  # type: ignore[arg-type]
        kernel_launches=s["kernel_launches"],  # type: ignore[arg-type]
    )


def _training(
    x: Mapping[str, NDArray[Any]], s: Mapping[str, Array], tokens_per_step: Array, train_tokens: Array, usable: Array
) -> dict[str, Array]:
    """A fine-tune's columns: its pass, memory terms, roofline step, step time and price."""
    model_pass = _pass_columns(x, s)
    memory = {name: s[f"memory_{name}"] for name in _MEMORY_FIELDS}
    memory = {k: (v.astype(bool) if k in _MEMORY_FLAGS else v) for k, v in memory.items()}
    mem = training_memory_columns(memory, model_pass, batch=x["batch"], n_gpus=x["n_gpus"])
    overhead = float(CUDA_CONTEXT_BYTES) + FRAGMENTATION_FRACTION * mem.allocated_bytes
    peak = mem.allocated_bytes + overhead
    per_sequence = mem.bytes_per_sequence
    fits_batch = np.floor_divide(usable - mem.fixed_bytes, np.where(per_sequence > 0, per_sequence, 1.0))
    passes = np.where(memory["checkpointing"], 3.0, 2.0)
    traffic = mem.weights * passes + 2.0 * mem.activations + 2.0 * mem.logits + s["trainable_params"] * 28.0
    peaks = np.stack([x[f"peak_{p}"] for p in _PEAKS])
    peak_flops = np.take_along_axis(peaks, s["peak_key"].astype(np.intp)[None, :], axis=0)[0]
    train_flops = model_pass.train_flops
    ideal_compute = train_flops / peak_flops
    ideal_memory = traffic / x["hbm_bytes_per_s"]
    coef = (s["train_a"], s["train_b"], s["train_g"], s["train_h"])
    step_s = _predict(coef, ideal_compute, ideal_memory, s["kernel_launches"]) * x["accumulation"]
    steps = np.maximum(np.ceil(train_tokens / tokens_per_step), 1.0)
    train_gpu_hours = steps * step_s * x["n_gpus"] / 3600.0
    flops_per_step = train_flops * x["accumulation"] * x["n_gpus"]
    return {
        "tokens_per_step": tokens_per_step,
        "train_flops_per_step": flops_per_step,
        "peak_memory_bytes": peak,
        "allocated_bytes": mem.allocated_bytes,
        "weights_bytes": mem.weights,
        "gradients_bytes": mem.gradients,
        "optimizer_bytes": mem.optimizer,
        "activations_bytes": mem.activations,
        "logits_bytes": mem.logits,
        "kv_cache_bytes": mem.kv_cache,
        "overhead_bytes": overhead,
        "fits": (peak <= x["memory_bytes"]).astype(float),
        "max_micro_batch_that_fits": np.where(per_sequence > 0, np.maximum(fits_batch, 0.0), 0.0),
        "step_time_s": step_s,
        "tokens_per_s": np.where(step_s > 0, tokens_per_step / np.where(step_s > 0, step_s, 1.0), 0.0),
        "train_gpu_hours": train_gpu_hours,
        "train_usd": train_gpu_hours * x["usd_per_hour"],
        "train_steps": steps,
        "train_tokens": train_tokens,
        "train_flops_total": flops_per_step * steps,
        "compute_bound": (ideal_compute >= ideal_memory).astype(float),
        "ideal_compute_s": ideal_compute,
        "ideal_memory_s": ideal_memory,
        "kernel_launches": s["kernel_launches"],
    }


_MEMORY_FLAGS = frozenset({"shard_optimizer", "shard_gradients", "gather_weights", "checkpointing"})


def _api_train_usd(table: CandidateTable, members: NDArray[np.intp], train_tokens: Array) -> Array:
    """Token-priced API fine-tunes, one by one (few, and the price tables are not arrays)."""
    usd = np.zeros(len(members))
    for j, i in enumerate(members.tolist()):
        candidate = table.candidate(i)
        method, training = candidate.method, candidate.training
        try:
            usd[j] = api_finetune_usd(
                total_params=parameter_counts(candidate.architecture).total_params,
                train_tokens=float(train_tokens[j]) / training.epochs,
                epochs=training.epochs,
                **_api_pricing(get_method(method.name), method),
            )
        except InvalidInputError as exc:
            raise _GroupError(i, exc.field, exc.message) from None
    return usd


def _check_hardware(table: CandidateTable, hardware: Mapping[str, HardwareSpec]) -> None:
    for i, request in enumerate(table.hardware):
        if request.gpu not in hardware and np.any(table.gpu == i):
            first = int(np.flatnonzero(table.gpu == i).min())
            known = ", ".join(sorted(hardware)) or "none"
            raise InvalidInputError(f"candidates[{first}].hardware.gpu", f"unknown GPU {request.gpu!r}; known: {known}")


class _Gathered(Mapping[str, Array]):
    """Group scalars by name, each read as one entry per candidate (gathered when read: a 100,000-row
    table keeps one small matrix, not a hundred full columns)."""

    def __init__(self, names: list[str], matrix: Array, group_of: NDArray[np.intp]) -> None:
        self._column = {name: j for j, name in enumerate(names)}
        self._matrix, self._group_of = matrix, group_of

    def __getitem__(self, name: str) -> Array:
        return np.asarray(self._matrix[self._group_of, self._column[name]], dtype=float)

    def __iter__(self) -> Any:
        return iter(self._column)

    def __len__(self) -> int:
        return len(self._column)


def _scalars(
    table: CandidateTable, x: Mapping[str, NDArray[Any]], calibration: EfficiencyCalibration
) -> tuple[_Gathered, list[_GroupError]]:
    """Every group's scalars, read per candidate, and the groups that cannot be costed."""
    group_of, firsts = _groups(table)
    order = np.argsort(group_of, kind="stable")
    bounds = np.searchsorted(group_of[order], np.arange(len(firsts) + 1))
    rows: list[dict[str, float]] = []
    errors: list[_GroupError] = []
    for g, (begin, end) in enumerate(itertools.pairwise(bounds.tolist())):
        try:
            rows.append(_group_scalars(table, firsts[g], x["is_cuda"], order[begin:end], calibration))
        except _GroupError as exc:
            errors.append(exc)
            rows.append({})
    names = list(next((row.keys() for row in rows if row), ()))
    matrix = np.asarray([[row.get(name, 0.0) for name in names] for row in rows], dtype=float).reshape(len(rows), -1)
    return _Gathered(names, matrix, group_of), errors


def estimate_cost_columns(
    table: CandidateTable,
    *,
    hardware: Mapping[str, HardwareSpec],
    calibration: EfficiencyCalibration | None = None,
) -> CostColumns:
    """Cost every candidate of ``table`` at once (what :func:`predictors.cost.estimate_costs` does one by one).

    Raises
    ------
    InvalidInputError
        As the per-candidate path, for the first candidate (lowest index) that cannot be costed, naming
        its field under ``candidates[i]``.
    """
    cal = calibration if calibration is not None else default_calibration()
    _check_hardware(table, hardware)
    n = len(table)
    if n == 0:
        return CostColumns(table, {name: np.zeros(0) for name in COLUMNS}, hardware, cal)
    x = _inputs(table, hardware)
    s, errors = _scalars(table, x, cal)
    examples = np.where(np.isnan(x["train_examples"]), DEFAULT_TRAIN_EXAMPLES, x["train_examples"])
    epoch_tokens = np.where(
        np.isnan(x["dataset_tokens"]),
        examples * x["data_fraction"] * x["seq_len"],
        x["dataset_tokens"] * x["data_fraction"],
    )
    train_tokens = epoch_tokens * x["epochs"]
    tokens_per_step = x["batch"] * x["seq_len"] * x["accumulation"] * x["n_gpus"]
    usable = (x["memory_bytes"] - float(CUDA_CONTEXT_BYTES)) / (1 + FRAGMENTATION_FRACTION)
    inference = _inference(x, s, cal)
    api = np.flatnonzero(s["kind"] == _KINDS["api"]) if len(s) else np.array([], dtype=np.intp)
    api_usd = np.zeros(len(api))
    try:
        api_usd = _api_train_usd(table, api, train_tokens[api])
    except _GroupError as exc:
        errors.append(exc)
    if errors:
        first_error = min(errors, key=lambda e: e.index)
        raise InvalidInputError(f"candidates[{first_error.index}].{first_error.field_name}", first_error.message)
    trains = s["kind"] == _KINDS["finetune"]
    fine_tune = _training(x, s, tokens_per_step, train_tokens, usable)
    serving = _serving_memory(x, s, inference.pop("prompt"), usable)
    values = {name: np.zeros(n) for name in COLUMNS}
    for name in ("total_params", "active_params", "trainable_params", "added_params"):
        values[name] = s[name]
    values.update(inference)
    for name, column in fine_tune.items():
        values[name] = np.where(trains, column, serving.get(name, 0.0))
    values["train_usd"][api] = api_usd
    values["train_tokens"][api] = train_tokens[api]
    values["total_usd"] = values["train_usd"] + values["eval_usd"]
    return CostColumns(table=table, values=values, hardware=hardware, calibration=cal)
