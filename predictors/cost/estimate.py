"""The cost model's entry point: one :class:`CostEstimate` per candidate.

``estimate_costs(candidates, hardware=..., calibration=None)`` is what ``POST /v1/cost`` calls.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictors.architecture import Architecture, ParameterCount
from predictors.cost.calibration import EfficiencyCalibration, default_calibration, method_family
from predictors.cost.counts import decoder_linear_params, decoder_matmul_flops_per_token, parameter_counts
from predictors.cost.hardware import HardwareSpec
from predictors.cost.memory import (
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION_FRACTION,
    TrainingMemory,
    inference_memory,
    kv_cache_bytes,
    quantized_base,
    training_memory,
    weight_bytes_per_param,
)
from predictors.cost.money import api_finetune_usd, gpu_usd, total_cost_usd
from predictors.cost.passes import ModelPass, forward_kernel_launches, trace_training_pass
from predictors.cost.schemas import CostCandidate, CostEstimate, MemoryBreakdown, TrainingConfig
from predictors.errors import InvalidInputError
from predictors.methods import get_method
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec

__all__ = [
    "DEFAULT_TRAIN_EXAMPLES",
    "RooflineStep",
    "candidate_assumptions",
    "estimate_cost",
    "estimate_costs",
    "roofline_training_step",
]

DEFAULT_TRAIN_EXAMPLES = 1000

_CACHE_LIMIT = 65_536
_METHOD_TERMS: dict[tuple[Architecture, str], tuple[int, CostTerms]] = {}


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def _trace(
    arch: Architecture,
    terms: CostTerms,
    *,
    batch: int,
    seq_len: int,
    precision: str,
    attention: str,
    gradient_checkpointing: bool,
) -> ModelPass:
    """``trace_training_pass`` memoised on (architecture, terms, shape): planner grids repeat them."""
    return trace_training_pass(
        arch,
        terms,
        batch=batch,
        seq_len=seq_len,
        precision=precision,
        attention=attention,
        gradient_checkpointing=gradient_checkpointing,
    )


def _method_terms(arch: Architecture, method: MethodConfig, spec: MethodSpec) -> tuple[int, CostTerms]:
    """(trainable parameters, cost terms) of a method on an architecture, memoised on the architecture and
    the method's settings: a planner grid parses one method object per candidate, but repeats settings."""
    key = (arch, json.dumps(method.__dict__, sort_keys=True, default=str))
    hit = _METHOD_TERMS.get(key)
    if hit is None:
        trainable = int(spec.trainable_params(arch, method))
        terms = spec.cost_terms(arch, method) if spec.cost_terms is not None else CostTerms()
        if len(_METHOD_TERMS) > _CACHE_LIMIT:
            _METHOD_TERMS.clear()
        hit = _METHOD_TERMS[key] = (trainable, terms)
    return hit


def _api_pricing(spec: MethodSpec, method: MethodConfig) -> dict[str, Any]:
    """The provider fields of a provider-hosted fine-tune (its spec's ``api_pricing``)."""
    if spec.api_pricing is None:
        raise InvalidInputError("method.name", f"{spec.name} is not priced by a provider")
    return spec.api_pricing(method)


@dataclass(frozen=True, slots=True)
class RooflineStep:
    """Ideal times of one micro-step: matmul FLOPs at peak, HBM bytes at peak bandwidth."""

    ideal_compute_s: float
    ideal_memory_s: float


def roofline_training_step(
    model_pass: ModelPass,
    *,
    weights_bytes: float,
    trainable_params: int,
    saved_bytes: float,
    logits_bytes: float,
    hardware: HardwareSpec,
    precision: str,
    gradient_checkpointing: bool,
) -> RooflineStep:
    """Roofline terms of one training micro-step.

    HBM bytes: weights read in forward, backward (and the recompute), saved activations written and
    read back, the logits buffers written and read, and the optimizer update reading parameter,
    gradient and two states and writing three (our accounting).
    """
    passes = 3.0 if gradient_checkpointing else 2.0
    traffic = weights_bytes * passes + 2.0 * saved_bytes + 2.0 * logits_bytes + trainable_params * 28.0
    return RooflineStep(
        ideal_compute_s=model_pass.train_flops / hardware.peak_flops_per_s(precision),
        ideal_memory_s=traffic / hardware.hbm_bytes_per_s,
    )


def _inference(
    arch: Architecture,
    candidate: CostCandidate,
    terms: CostTerms,
    hw: HardwareSpec,
    calibration: EfficiencyCalibration,
    *,
    weights_bytes: float,
) -> tuple[float, float, float]:
    """(matmul FLOPs per query, seconds per query on one GPU, KV-cache bytes of one batch)."""
    ev = candidate.evaluation
    prompt = ev.prompt_tokens + terms.input_virtual_tokens
    prompt += terms.prompt_tokens  # COSMOS ICL cost: demonstrations lengthen every prompt
    keys = prompt + terms.prefix_tokens
    out = ev.output_tokens
    per_token = decoder_matmul_flops_per_token(arch)
    # = forward_flops(arch, batch=1, s_q=prompt, s_k=keys, logit_tokens=1), with the per-token sum memoised
    attention_per_pair = 4.0 * arch.num_hidden_layers * arch.num_attention_heads * arch.head_dim
    prefill = prompt * per_token + attention_per_pair * prompt * keys + 2.0 * arch.hidden_size * arch.vocab_size
    decode_linear = out * (per_token + 2.0 * arch.hidden_size * arch.vocab_size)
    # Σ over decode steps of attention over a growing context (keys + t), t = 0 … out−1
    context_sum = out * keys + out * (out - 1) / 2.0
    decode_attention = attention_per_pair * context_sum
    flops = prefill + decode_linear + decode_attention
    batch = ev.batch_size
    kv = kv_cache_bytes(arch, batch=batch, context_tokens=keys + out)
    peak = hw.peak_flops_per_s("bf16")
    launches = forward_kernel_launches(arch)
    prefill_s = calibration.predict_one(
        "prefill", prefill * batch / peak, (weights_bytes + kv) / hw.hbm_bytes_per_s, launches
    )
    step_bytes = weights_bytes + kv / 2.0  # mean KV read per decode step (the cache grows from prompt to prompt + out)
    decode_step_s = calibration.predict_one(
        "decode",
        (decode_linear + decode_attention) / max(out, 1) * batch / peak,
        step_bytes / hw.hbm_bytes_per_s,
        launches,
    )
    seconds_per_query = (prefill_s + out * decode_step_s) / batch
    return flops, seconds_per_query, kv


def estimate_cost(
    candidate: CostCandidate,
    *,
    hardware: Mapping[str, HardwareSpec],
    calibration: EfficiencyCalibration | None = None,
) -> CostEstimate:
    """Cost one candidate: parameters, FLOPs, peak memory, time and dollars.

    Parameters
    ----------
    candidate : CostCandidate
        Architecture, method config, training, hardware request and evaluation workload.
    hardware : mapping of str to HardwareSpec
        The catalog, keyed by GPU id (``candidate.hardware.gpu`` must be a key).
    calibration : EfficiencyCalibration, optional
        Fitted efficiency factors; the shipped default when omitted.

    Returns
    -------
    CostEstimate
        ``train_flops_per_step`` and ``tokens_per_step`` cover one optimizer step on all GPUs
        (micro-batch × seq_len × accumulation × count); ``step_time_s`` is that step's wall time;
        ``peak_memory_bytes`` is per GPU; ``inference_*`` price one query of ``candidate.evaluation``
        (prompt + demonstrations for ICL, then ``output_tokens`` decoded); ``total_usd`` is
        adaptation + evaluation.

    Raises
    ------
    InvalidInputError
        Unknown GPU (``hardware.gpu``), NF4/int8 on a non-CUDA device (``method.name`` for QLoRA,
        else ``training.precision``), a quantised base for full fine-tuning, method-specific
        impossibilities (BitFit without biases, k above the depth…).

    Notes
    -----
    See :mod:`predictors.cost.passes` for what the FLOPs count, :mod:`predictors.cost.memory` for the
    memory model and :mod:`predictors.cost.calibration` for the time model. Steps =
    ⌈epochs · tokens / tokens_per_step⌉ with tokens = ``dataset_tokens`` · fraction (packed) or
    ``train_examples`` · fraction · seq_len (padded); GPU-hours = steps · step_time_s · count / 3600.

    References
    ----------
    Wang, Albarghouthi, Sala 2025, COSMOS, arXiv:2505.01449, Sec. 3.4, Eq. 3 (c = c_adapt + c_eval;
    compute-based c_adapt = GPU rate × duration; test-time strategies pay inference only) and Sec. 4.3
    (ICL cost grows with shots × demonstration length).
    """
    cal = calibration if calibration is not None else default_calibration()
    adaptation = _resolve(candidate, hardware, cal)
    evaluation = _evaluation_cost(candidate, adaptation, cal)
    if adaptation.spec.kind != "finetune":
        return _serving_estimate(candidate, adaptation, evaluation)
    return _finetune_estimate(candidate, adaptation, evaluation, cal)


@dataclass(frozen=True, slots=True)
class _Adaptation:
    """What every part of one candidate's cost reads once its method is resolved on its architecture."""

    spec: MethodSpec
    gpu: HardwareSpec
    counts: ParameterCount
    trainable_params: int
    terms: CostTerms
    added_params: int  # new (adapter) parameters, 0 for methods that train base weights only
    quantized: str | None  # the base weights' storage format when NF4/int8, else None
    compute_precision: str
    weights_inference_bytes: float
    assumptions: list[str]


def new_adapter_params(spec: MethodSpec, terms: CostTerms, trainable_params: int) -> int:
    """Trainable parameters a fine-tune adds beside the base (adapters), 0 for methods training base weights."""
    if spec.kind == "finetune" and terms.adapter_params_are_new:
        return trainable_params - terms.base_params_trained
    return 0


def compute_precision_of(precision: str, terms: CostTerms) -> str:
    """The dtype matmuls run in: quantised weights are dequantised to bf16 (QLoRA Sec. 3)."""
    if precision in {"int8", "nf4"}:
        return "bf16"
    if terms.quantized_base and precision in {"fp32", "bf16-mixed"}:
        return "bf16"
    return precision


def inference_weight_bytes(
    arch: Architecture, counts: ParameterCount, *, quantized: str | None, precision: str, fp32_params: int
) -> float:
    """Weight bytes of a serving forward: quantised decoder linears (the rest 16-bit), else every
    parameter at the precision's width; plus ``fp32_params`` kept in fp32 (adapters, added frozen tensors)."""
    if quantized:
        linear = decoder_linear_params(arch)
        base = (counts.total_params - linear) * 2.0 + linear * weight_bytes_per_param(quantized)
    else:
        base = counts.total_params * (4.0 if precision == "fp32" else 2.0)
    return base + fp32_params * 4.0


def _resolve(
    candidate: CostCandidate, hardware: Mapping[str, HardwareSpec], calibration: EfficiencyCalibration
) -> _Adaptation:
    """The candidate's GPU, its method's terms and its precisions; raises what cannot run (see ``estimate_cost``)."""
    arch, method, precision = candidate.architecture, candidate.method, candidate.training.precision
    spec = get_method(method.name)
    gpu = hardware.get(candidate.hardware.gpu)
    if gpu is None:
        known = ", ".join(sorted(hardware)) or "none"
        raise InvalidInputError("hardware.gpu", f"unknown GPU {candidate.hardware.gpu!r}; known: {known}")
    counts = parameter_counts(arch)
    trainable, terms = _method_terms(arch, method, spec)
    assumptions = candidate_assumptions(candidate, spec=spec, terms=terms, hardware=gpu, calibration=calibration)
    added = new_adapter_params(spec, terms, trainable)
    quantized = quantized_base(terms, precision)
    if quantized and not gpu.is_cuda:
        raise InvalidInputError(
            "method.name" if terms.quantized_base else "training.precision",
            f"{quantized} quantisation (bitsandbytes) needs a CUDA GPU; {gpu.id} is not one",
        )
    if spec.base_weights_trainable and precision in {"int8", "nf4"}:
        raise InvalidInputError(
            "training.precision", f"{method.name} trains the base weights, which cannot be stored as {precision}"
        )
    weights = inference_weight_bytes(
        arch, counts, quantized=quantized, precision=precision, fp32_params=added + terms.added_frozen_params
    )
    return _Adaptation(
        spec=spec,
        gpu=gpu,
        counts=counts,
        trainable_params=trainable,
        terms=terms,
        added_params=added,
        quantized=quantized,
        compute_precision=compute_precision_of(precision, terms),
        weights_inference_bytes=weights,
        assumptions=assumptions,
    )


@dataclass(frozen=True, slots=True)
class _EvaluationCost:
    """Serving ``candidate.evaluation``: one query's FLOPs, and what its queries cost (COSMOS Eq. 3's c_eval)."""

    flops_per_query: float
    usd_per_1k_queries: float
    gpu_hours: float
    usd: float


def _evaluation_cost(
    candidate: CostCandidate, adaptation: _Adaptation, calibration: EfficiencyCalibration
) -> _EvaluationCost:
    gpu = adaptation.gpu
    flops, seconds_per_query, _ = _inference(
        candidate.architecture,
        candidate,
        adaptation.terms,
        gpu,
        calibration,
        weights_bytes=adaptation.weights_inference_bytes,
    )
    gpu_hours = seconds_per_query * candidate.evaluation.eval_queries / 3600.0
    return _EvaluationCost(
        flops_per_query=flops,
        usd_per_1k_queries=gpu_usd(seconds_per_query * 1000.0 / 3600.0, gpu.usd_per_hour),
        gpu_hours=gpu_hours,
        usd=gpu_usd(gpu_hours, gpu.usd_per_hour),
    )


def _training_tokens(training: TrainingConfig) -> tuple[float, float]:
    """(tokens of one epoch, tokens of the whole run): packed ``dataset_tokens`` · fraction, or padded
    ``train_examples`` · fraction · seq_len."""
    if training.dataset_tokens is not None:
        epoch_tokens = training.dataset_tokens * training.data_fraction
    else:
        examples = training.train_examples if training.train_examples is not None else DEFAULT_TRAIN_EXAMPLES
        epoch_tokens = examples * training.data_fraction * training.seq_len
    return epoch_tokens, epoch_tokens * training.epochs


@dataclass(frozen=True, slots=True)
class _GpuFit:
    """How an allocation sits on one GPU: the allocator/CUDA overhead, the peak, the largest batch that fits."""

    overhead_bytes: float
    peak_bytes: float
    max_batch: int


def _gpu_fit(gpu: HardwareSpec, *, allocated_bytes: float, fixed_bytes: float, bytes_per_item: float) -> _GpuFit:
    """CUDA context plus fragmentation on top of ``allocated_bytes``; the batch (sequences or queries)
    whose ``bytes_per_item`` fill what the fixed part leaves."""
    context_bytes = float(CUDA_CONTEXT_BYTES)
    overhead = context_bytes + FRAGMENTATION_FRACTION * allocated_bytes
    usable = (gpu.memory_bytes - context_bytes) / (1 + FRAGMENTATION_FRACTION)
    max_batch = int(max((usable - fixed_bytes) // bytes_per_item, 0)) if bytes_per_item > 0 else 0
    return _GpuFit(overhead_bytes=overhead, peak_bytes=allocated_bytes + overhead, max_batch=max_batch)


def _serving_estimate(candidate: CostCandidate, adaptation: _Adaptation, evaluation: _EvaluationCost) -> CostEstimate:
    """An inference method (or a provider fine-tune): no training step; memory is the serving peak."""
    training, spec, counts = candidate.training, adaptation.spec, adaptation.counts
    workload = candidate.evaluation
    weights = adaptation.weights_inference_bytes
    memory = inference_memory(
        candidate.architecture,
        weights_bytes=weights,
        batch=workload.batch_size,
        prompt_tokens=workload.prompt_tokens + adaptation.terms.input_virtual_tokens + adaptation.terms.prompt_tokens,
        output_tokens=workload.output_tokens,
    )
    fit = _gpu_fit(
        adaptation.gpu,
        allocated_bytes=memory.allocated_bytes,
        fixed_bytes=weights,
        bytes_per_item=memory.bytes_per_query,
    )
    epoch_tokens, train_tokens = _training_tokens(training)
    train_usd = 0.0
    if spec.kind == "api":
        train_usd = api_finetune_usd(
            total_params=counts.total_params,
            train_tokens=epoch_tokens,
            epochs=training.epochs,
            **_api_pricing(spec, candidate.method),
        )
    return CostEstimate(
        model_id=candidate.model_id,
        method=candidate.method.name,
        total_params=counts.total_params,
        trainable_params=adaptation.trainable_params,
        tokens_per_step=0,
        train_flops_per_step=0.0,
        peak_memory_bytes=int(fit.peak_bytes),
        memory_breakdown=MemoryBreakdown(
            weights=int(weights),
            gradients=0,
            optimizer=0,
            activations=int(memory.activations),
            logits=int(memory.logits),
            kv_cache=int(memory.kv_cache),
            overhead=int(fit.overhead_bytes),
        ),
        fits=fit.peak_bytes <= adaptation.gpu.memory_bytes,
        max_micro_batch_that_fits=fit.max_batch,
        step_time_s=0.0,
        tokens_per_s=0.0,
        train_gpu_hours=0.0,
        train_usd=train_usd,
        inference_flops_per_query=evaluation.flops_per_query,
        inference_usd_per_1k_queries=evaluation.usd_per_1k_queries,
        assumptions=adaptation.assumptions,
        active_params=counts.active_params,
        added_params=adaptation.added_params,
        allocated_bytes=int(memory.allocated_bytes),
        train_steps=0,
        train_tokens=train_tokens if spec.kind == "api" else 0.0,
        train_flops_total=0.0,
        eval_gpu_hours=evaluation.gpu_hours,
        eval_usd=evaluation.usd,
        total_usd=total_cost_usd(train_usd, evaluation.usd),
        bound="none",
    )


def _training_step(candidate: CostCandidate, adaptation: _Adaptation) -> tuple[ModelPass, TrainingMemory]:
    """One micro-step's pass (FLOPs, saved activations) and its per-GPU memory."""
    training, terms = candidate.training, adaptation.terms
    precision, compute_precision = training.precision, adaptation.compute_precision
    model_pass = _trace(
        candidate.architecture,
        terms,
        batch=training.micro_batch_size,
        seq_len=training.seq_len,
        precision=compute_precision if precision not in {"fp32", "bf16-mixed"} else precision,
        attention=training.attention,
        gradient_checkpointing=training.gradient_checkpointing,
    )
    memory = training_memory(
        candidate.architecture,
        adaptation.counts,
        terms,
        model_pass,
        precision=precision if not terms.quantized_base else compute_precision,
        optimizer=training.optimizer,
        gradient_checkpointing=training.gradient_checkpointing,
        batch=training.micro_batch_size,
        trainable_params=adaptation.trainable_params,
        added_params=adaptation.added_params,
        n_gpus=candidate.hardware.count,
        sharding=training.sharding,
        double_quant=terms.double_quant,
    )
    return model_pass, memory


@dataclass(frozen=True, slots=True)
class _TrainingRun:
    """The whole adaptation run: one optimizer step on all GPUs, the steps, GPU-hours and dollars."""

    roofline: RooflineStep
    tokens_per_step: int
    flops_per_step: float
    step_time_s: float
    steps: int
    train_tokens: float
    gpu_hours: float
    usd: float


def _training_run(
    candidate: CostCandidate,
    adaptation: _Adaptation,
    model_pass: ModelPass,
    memory: TrainingMemory,
    calibration: EfficiencyCalibration,
) -> _TrainingRun:
    """Steps = ⌈train tokens / tokens per step⌉, each timed by the calibrated roofline of its micro-steps."""
    training, n_gpus, gpu = candidate.training, candidate.hardware.count, adaptation.gpu
    roof = roofline_training_step(
        model_pass,
        weights_bytes=memory.weights,
        trainable_params=adaptation.trainable_params,
        saved_bytes=memory.activations,
        logits_bytes=memory.logits,
        hardware=gpu,
        precision=adaptation.compute_precision,
        gradient_checkpointing=training.gradient_checkpointing,
    )
    family = method_family(candidate.method.name)
    micro_step_s = calibration.predict_one(
        family, roof.ideal_compute_s, roof.ideal_memory_s, model_pass.kernel_launches
    )
    step_s = micro_step_s * training.gradient_accumulation_steps
    tokens_per_step = training.micro_batch_size * training.seq_len * training.gradient_accumulation_steps * n_gpus
    train_tokens = _training_tokens(training)[1]
    steps = max(math.ceil(train_tokens / tokens_per_step), 1)
    gpu_hours = steps * step_s * n_gpus / 3600.0
    return _TrainingRun(
        roofline=roof,
        tokens_per_step=tokens_per_step,
        flops_per_step=model_pass.train_flops * training.gradient_accumulation_steps * n_gpus,
        step_time_s=step_s,
        steps=steps,
        train_tokens=train_tokens,
        gpu_hours=gpu_hours,
        usd=gpu_usd(gpu_hours, gpu.usd_per_hour),
    )


def _finetune_estimate(
    candidate: CostCandidate,
    adaptation: _Adaptation,
    evaluation: _EvaluationCost,
    calibration: EfficiencyCalibration,
) -> CostEstimate:
    """A fine-tune: the training step's memory and time, then the run's steps and dollars."""
    counts = adaptation.counts
    model_pass, memory = _training_step(candidate, adaptation)
    fit = _gpu_fit(
        adaptation.gpu,
        allocated_bytes=memory.allocated_bytes,
        fixed_bytes=memory.fixed_bytes,
        bytes_per_item=memory.bytes_per_sequence,
    )
    run = _training_run(candidate, adaptation, model_pass, memory, calibration)
    roof = run.roofline
    return CostEstimate(
        model_id=candidate.model_id,
        method=candidate.method.name,
        total_params=counts.total_params,
        trainable_params=adaptation.trainable_params,
        tokens_per_step=run.tokens_per_step,
        train_flops_per_step=run.flops_per_step,
        peak_memory_bytes=int(fit.peak_bytes),
        memory_breakdown=MemoryBreakdown(
            weights=int(memory.weights),
            gradients=int(memory.gradients),
            optimizer=int(memory.optimizer),
            activations=int(memory.activations),
            logits=int(memory.logits),
            kv_cache=int(memory.kv_cache),
            overhead=int(fit.overhead_bytes),
        ),
        fits=fit.peak_bytes <= adaptation.gpu.memory_bytes,
        max_micro_batch_that_fits=fit.max_batch,
        step_time_s=run.step_time_s,
        tokens_per_s=run.tokens_per_step / run.step_time_s if run.step_time_s > 0 else 0.0,
        train_gpu_hours=run.gpu_hours,
        train_usd=run.usd,
        inference_flops_per_query=evaluation.flops_per_query,
        inference_usd_per_1k_queries=evaluation.usd_per_1k_queries,
        assumptions=adaptation.assumptions,
        active_params=counts.active_params,
        added_params=adaptation.added_params,
        allocated_bytes=int(memory.allocated_bytes),
        train_steps=run.steps,
        train_tokens=run.train_tokens,
        train_flops_total=run.flops_per_step * run.steps,
        eval_gpu_hours=evaluation.gpu_hours,
        eval_usd=evaluation.usd,
        total_usd=total_cost_usd(run.usd, evaluation.usd),
        bound="compute" if roof.ideal_compute_s >= roof.ideal_memory_s else "memory",
        ideal_compute_s=roof.ideal_compute_s,
        ideal_memory_s=roof.ideal_memory_s,
        kernel_launches=model_pass.kernel_launches,
    )


def candidate_assumptions(
    candidate: CostCandidate,
    *,
    spec: MethodSpec,
    terms: CostTerms,
    hardware: HardwareSpec,
    calibration: EfficiencyCalibration,
) -> list[str]:
    """What an estimate of ``candidate`` assumed, in the order its parts are costed (one list for both the
    per-candidate path and the vectorised columns, so they say the same)."""
    arch, training, method = candidate.architecture, candidate.training, candidate.method
    precision = training.precision
    assumptions = [*arch.assumptions, *terms.assumptions]
    quantized = quantized_base(terms, precision)
    if quantized and arch.is_moe:
        assumptions.append(
            f"{quantized} base on an MoE model: expert weights assumed quantised too; bitsandbytes replaces "
            "nn.Linear modules, and fused 3-D expert parameters may stay in bf16 (not verified on CUDA)"
        )
    if precision in {"bf16", "bf16-mixed"} and not hardware.peak_bf16_tflops:
        assumptions.append(f"{hardware.id} has no bf16: timed at its fp16 peak")
    if training.seq_len > arch.max_position_embeddings:
        assumptions.append(f"seq_len {training.seq_len} exceeds max_position_embeddings {arch.max_position_embeddings}")
    if training.dataset_tokens is None and training.train_examples is None and spec.kind != "inference":
        assumptions.append(f"train_examples not given: assumed {DEFAULT_TRAIN_EXAMPLES}")
    if spec.kind == "api":
        return [*assumptions, "API fine-tune: priced per training token; evaluation costed as self-hosted inference"]
    if spec.kind != "finetune":
        return [
            *assumptions,
            "inference method: no training step (step_time_s, tokens_per_s are 0); adaptation "
            "cost is the evaluation (COSMOS Eq. 3)",
        ]
    family = method_family(method.name)
    if family not in calibration.coef_:
        assumptions.append(f"no measured '{family}' runs in the calibration: timed with the pooled efficiency")
    elif method.name != family:
        assumptions.append(
            f"{method.name} timed with the '{family}' efficiency (no measured {method.name} runs; "
            "dequantisation / weight-norm / elementwise overheads are not calibrated)"
        )
    if candidate.hardware.count > 1 and training.sharding in {"zero3", "fsdp"}:
        assumptions.append("ZeRO-3/FSDP parameter gathering assumed overlapped with compute")
    if training.attention != "eager":
        assumptions.append(f"{training.attention} attention: no score matrix kept; backward recomputes Q·Kᵀ")
    if not training.gradient_checkpointing:
        assumptions.append("use_cache left on in the training forward (transformers default): a KV copy is kept")
    if training.optimizer == "sgd":
        assumptions.append("SGD with momentum: one fp32 state per trainable parameter")
    if terms.head_only:
        assumptions.append("linear probe: one forward per example; the head trains on cached pooled states")
    return assumptions


def estimate_costs(
    candidates: Sequence[CostCandidate],
    *,
    hardware: Mapping[str, HardwareSpec],
    calibration: EfficiencyCalibration | None = None,
) -> list[CostEstimate]:
    """Cost every candidate; an error names its index (``candidates[3].hardware.gpu``)."""
    cal = calibration if calibration is not None else default_calibration()
    results: list[CostEstimate] = []
    for index, candidate in enumerate(candidates):
        try:
            results.append(estimate_cost(candidate, hardware=hardware, calibration=cal))
        except InvalidInputError as exc:
            raise InvalidInputError(f"candidates[{index}].{exc.field}", exc.message) from None
    return results
