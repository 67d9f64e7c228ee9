"""The cost model's entry point: one :class:`CostEstimate` per candidate.

``estimate_costs(candidates, hardware=..., calibration=None)`` is what ``POST /v1/cost`` calls.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictors.architecture import Architecture, ParameterCount, count_parameters
from predictors.cost.calibration import EfficiencyCalibration, default_calibration, method_family
from predictors.cost.hardware import HardwareSpec
from predictors.cost.memory import (
    CUDA_CONTEXT_BYTES,
    FRAGMENTATION_FRACTION,
    inference_memory,
    kv_cache_bytes,
    training_memory,
    weight_bytes_per_param,
)
from predictors.cost.money import api_finetune_usd, gpu_usd, total_cost_usd
from predictors.cost.passes import ModelPass, forward_kernel_launches, trace_training_pass
from predictors.cost.schemas import CostCandidate, CostEstimate, MemoryBreakdown
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
_COUNTS: dict[int, tuple[Architecture, ParameterCount]] = {}
_ARCH_CONSTANTS: dict[int, tuple[Architecture, int, float]] = {}
_PASSES: dict[tuple[Any, ...], tuple[Architecture, ModelPass]] = {}
_METHOD_TERMS: dict[tuple[int, str], tuple[Architecture, MethodConfig, int, CostTerms]] = {}


def _counts(arch: Architecture) -> ParameterCount:
    """``count_parameters`` memoised on the architecture object (frozen, so the count cannot change)."""
    hit = _COUNTS.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1]
    if len(_COUNTS) > _CACHE_LIMIT:
        _COUNTS.clear()
    counts = count_parameters(arch)
    _COUNTS[id(arch)] = (arch, counts)
    return counts


def _arch_constants(arch: Architecture) -> tuple[int, float]:
    """(decoder linear parameters, matmul FLOPs per token through the decoder linears), memoised."""
    hit = _ARCH_CONSTANTS.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1], hit[2]
    linear = arch.num_hidden_layers * sum(m.params * m.n_experts for m in arch.linear_modules)
    per_token = arch.num_hidden_layers * sum(
        2.0 * m.in_features * m.out_features * (min(m.n_experts, arch.num_experts_per_token) if m.n_experts > 1 else 1)
        for m in arch.linear_modules
    )
    if len(_ARCH_CONSTANTS) > _CACHE_LIMIT:
        _ARCH_CONSTANTS.clear()
    _ARCH_CONSTANTS[id(arch)] = (arch, linear, per_token)
    return linear, per_token


def _trace(arch: Architecture, terms: CostTerms, **kwargs: Any) -> ModelPass:
    """``trace_training_pass`` memoised on (architecture object, terms, shape): planner grids repeat them."""
    key = (id(arch), terms, *sorted(kwargs.items()))
    hit = _PASSES.get(key)
    if hit is not None and hit[0] is arch:
        return hit[1]
    result = trace_training_pass(arch, terms, **kwargs)
    if len(_PASSES) > _CACHE_LIMIT:
        _PASSES.clear()
    _PASSES[key] = (arch, result)
    return result


def _method_terms(arch: Architecture, method: MethodConfig, spec: MethodSpec) -> tuple[int, CostTerms]:
    """(trainable parameters, cost terms) of a method on an architecture, memoised on the architecture object
    and the method's settings: a planner grid parses one method object per candidate, but repeats settings."""
    key = (id(arch), json.dumps(method.__dict__, sort_keys=True, default=str))
    hit = _METHOD_TERMS.get(key)
    if hit is not None and hit[0] is arch:
        return hit[2], hit[3]
    trainable = int(spec.trainable_params(arch, method))
    terms = spec.cost_terms(arch, method) if spec.cost_terms is not None else CostTerms()
    if len(_METHOD_TERMS) > _CACHE_LIMIT:
        _METHOD_TERMS.clear()
    _METHOD_TERMS[key] = (arch, method, trainable, terms)
    return trainable, terms


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
    per_token = _arch_constants(arch)[1]
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
    arch = candidate.architecture
    training = candidate.training
    method = candidate.method
    spec = get_method(method.name)
    hw = hardware.get(candidate.hardware.gpu)
    if hw is None:
        known = ", ".join(sorted(hardware)) or "none"
        raise InvalidInputError("hardware.gpu", f"unknown GPU {candidate.hardware.gpu!r}; known: {known}")
    n_gpus = candidate.hardware.count
    counts = _counts(arch)
    trainable, terms = _method_terms(arch, method, spec)
    assumptions = candidate_assumptions(candidate, spec=spec, terms=terms, hardware=hw, calibration=cal)
    added = trainable - terms.base_params_trained if (spec.kind == "finetune" and terms.adapter_params_are_new) else 0
    precision = training.precision
    quantized = terms.quantized_base or (precision if precision in {"int8", "nf4"} else None)
    if quantized and not hw.is_cuda:
        raise InvalidInputError(
            "method.name" if terms.quantized_base else "training.precision",
            f"{quantized} quantisation (bitsandbytes) needs a CUDA GPU; {hw.id} is not one",
        )
    if spec.base_weights_trainable and precision in {"int8", "nf4"}:
        raise InvalidInputError(
            "training.precision", f"{method.name} trains the base weights, which cannot be stored as {precision}"
        )
    compute_precision = "bf16" if precision in {"int8", "nf4"} else precision
    if terms.quantized_base and precision in {"fp32", "bf16-mixed"}:
        compute_precision = "bf16"
    weights_inference = (
        (counts.total_params - _linear(arch)) * 2.0 + _linear(arch) * weight_bytes_per_param(quantized)
        if quantized
        else counts.total_params * (4.0 if precision == "fp32" else 2.0)
    )
    weights_inference += (added + terms.added_frozen_params) * 4.0
    inf_flops, inf_s_per_query, _ = _inference(arch, candidate, terms, hw, cal, weights_bytes=weights_inference)
    inference_usd_1k = gpu_usd(inf_s_per_query * 1000.0 / 3600.0, hw.usd_per_hour)
    eval_gpu_hours = inf_s_per_query * candidate.evaluation.eval_queries / 3600.0
    eval_usd = gpu_usd(eval_gpu_hours, hw.usd_per_hour)
    overhead_fixed = float(CUDA_CONTEXT_BYTES)

    tokens_per_step = training.micro_batch_size * training.seq_len * training.gradient_accumulation_steps * n_gpus
    if training.dataset_tokens is not None:
        epoch_tokens = training.dataset_tokens * training.data_fraction
    else:
        examples = training.train_examples if training.train_examples is not None else DEFAULT_TRAIN_EXAMPLES
        epoch_tokens = examples * training.data_fraction * training.seq_len
    train_tokens = epoch_tokens * training.epochs

    if spec.kind != "finetune":
        ev = candidate.evaluation
        prompt = ev.prompt_tokens + terms.input_virtual_tokens
        prompt += terms.prompt_tokens
        inf_mem = inference_memory(
            arch,
            weights_bytes=weights_inference,
            batch=ev.batch_size,
            prompt_tokens=prompt,
            output_tokens=ev.output_tokens,
        )
        usable = (hw.memory_bytes - overhead_fixed) / (1 + FRAGMENTATION_FRACTION)
        alloc = inf_mem.allocated_bytes
        overhead = overhead_fixed + FRAGMENTATION_FRACTION * alloc
        peak = alloc + overhead
        per_query = inf_mem.bytes_per_query
        max_batch = int(max((usable - weights_inference) // per_query, 0)) if per_query else 0
        train_usd = 0.0
        if spec.kind == "api":
            train_usd = api_finetune_usd(
                total_params=counts.total_params,
                train_tokens=epoch_tokens,
                epochs=training.epochs,
                **_api_pricing(spec, method),
            )
        return CostEstimate(
            model_id=candidate.model_id,
            method=method.name,
            total_params=counts.total_params,
            trainable_params=trainable,
            tokens_per_step=0,
            train_flops_per_step=0.0,
            peak_memory_bytes=int(peak),
            memory_breakdown=MemoryBreakdown(
                weights=int(weights_inference),
                gradients=0,
                optimizer=0,
                activations=int(inf_mem.activations),
                logits=int(inf_mem.logits),
                kv_cache=int(inf_mem.kv_cache),
                overhead=int(overhead),
            ),
            fits=peak <= hw.memory_bytes,
            max_micro_batch_that_fits=max_batch,
            step_time_s=0.0,
            tokens_per_s=0.0,
            train_gpu_hours=0.0,
            train_usd=train_usd,
            inference_flops_per_query=inf_flops,
            inference_usd_per_1k_queries=inference_usd_1k,
            assumptions=assumptions,
            active_params=counts.active_params,
            added_params=added,
            allocated_bytes=int(alloc),
            train_steps=0,
            train_tokens=train_tokens if spec.kind == "api" else 0.0,
            train_flops_total=0.0,
            eval_gpu_hours=eval_gpu_hours,
            eval_usd=eval_usd,
            total_usd=total_cost_usd(train_usd, eval_usd),
            bound="none",
        )

    batch = training.micro_batch_size
    model_pass = _trace(
        arch,
        terms,
        batch=batch,
        seq_len=training.seq_len,
        precision=compute_precision if precision not in {"fp32", "bf16-mixed"} else precision,
        attention=training.attention,
        gradient_checkpointing=training.gradient_checkpointing,
    )
    mem = training_memory(
        arch,
        counts,
        terms,
        model_pass,
        precision=precision if not terms.quantized_base else compute_precision,
        optimizer=training.optimizer,
        gradient_checkpointing=training.gradient_checkpointing,
        batch=batch,
        trainable_params=trainable,
        added_params=added,
        n_gpus=n_gpus,
        sharding=training.sharding,
        double_quant=terms.double_quant,
    )
    overhead = overhead_fixed + FRAGMENTATION_FRACTION * mem.allocated_bytes
    peak = mem.allocated_bytes + overhead
    usable = (hw.memory_bytes - overhead_fixed) / (1 + FRAGMENTATION_FRACTION)
    max_batch = int(max((usable - mem.fixed_bytes) // mem.bytes_per_sequence, 0)) if mem.bytes_per_sequence > 0 else 0
    roof = roofline_training_step(
        model_pass,
        weights_bytes=mem.weights,
        trainable_params=trainable,
        saved_bytes=mem.activations,
        logits_bytes=mem.logits,
        hardware=hw,
        precision=compute_precision,
        gradient_checkpointing=training.gradient_checkpointing,
    )
    family = method_family(method.name)
    micro_s = cal.predict_one(family, roof.ideal_compute_s, roof.ideal_memory_s, model_pass.kernel_launches)
    step_s = micro_s * training.gradient_accumulation_steps
    steps = max(math.ceil(train_tokens / tokens_per_step), 1)
    train_gpu_hours = steps * step_s * n_gpus / 3600.0
    train_usd = gpu_usd(train_gpu_hours, hw.usd_per_hour)
    flops_per_step = model_pass.train_flops * training.gradient_accumulation_steps * n_gpus
    bound = "compute" if roof.ideal_compute_s >= roof.ideal_memory_s else "memory"
    return CostEstimate(
        model_id=candidate.model_id,
        method=method.name,
        total_params=counts.total_params,
        trainable_params=trainable,
        tokens_per_step=tokens_per_step,
        train_flops_per_step=flops_per_step,
        peak_memory_bytes=int(peak),
        memory_breakdown=MemoryBreakdown(
            weights=int(mem.weights),
            gradients=int(mem.gradients),
            optimizer=int(mem.optimizer),
            activations=int(mem.activations),
            logits=int(mem.logits),
            kv_cache=int(mem.kv_cache),
            overhead=int(overhead),
        ),
        fits=peak <= hw.memory_bytes,
        max_micro_batch_that_fits=max_batch,
        step_time_s=step_s,
        tokens_per_s=tokens_per_step / step_s if step_s > 0 else 0.0,
        train_gpu_hours=train_gpu_hours,
        train_usd=train_usd,
        inference_flops_per_query=inf_flops,
        inference_usd_per_1k_queries=inference_usd_1k,
        assumptions=assumptions,
        active_params=counts.active_params,
        added_params=added,
        allocated_bytes=int(mem.allocated_bytes),
        train_steps=steps,
        train_tokens=train_tokens,
        train_flops_total=flops_per_step * steps,
        eval_gpu_hours=eval_gpu_hours,
        eval_usd=eval_usd,
        total_usd=total_cost_usd(train_usd, eval_usd),
        bound=bound,
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
    quantized = terms.quantized_base or (precision if precision in {"int8", "nf4"} else None)
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


def _linear(arch: Architecture) -> int:
    return _arch_constants(arch)[0]


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
