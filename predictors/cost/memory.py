"""Peak GPU memory of a training step or an inference pass, with its breakdown.

The model reproduces what ``torch.cuda.max_memory_allocated`` reports for a Hugging Face training
step: persistent state (weights by precision, gradients, optimizer states, sharded across GPUs) plus
the larger of two instants — the start of backward (every saved activation, the autocast bf16 weight
copies, the logits and their gradient) and the end of backward (all gradients, one block being
re-materialised). An allocator/CUDA overhead is added on top for ``fits``.

References
----------
Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
arXiv:1910.02054, Sec. 5, Fig. 1 (Ψ·(2 + 2 + K) bytes; stages 1/2/3 divide optimizer, gradients,
parameters by N_d).
Dettmers et al. 2023, "QLoRA", arXiv:2305.14314, Sec. 3 (NF4 with block size 64, double quantisation:
0.127 bits per parameter of constants instead of 0.5).
Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization", arXiv:2110.02861 (2 bytes per
parameter of Adam state).
Korthikanti et al. 2022, arXiv:2205.05198, Eq. 1–2 (activations with and without recomputation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictors.architecture import Architecture, ParameterCount
from predictors.cost.counts import decoder_linear_params
from predictors.cost.passes import ModelPass, PassColumns
from predictors.methods.base import CostTerms

__all__ = [
    "CUDA_CONTEXT_BYTES",
    "FRAGMENTATION_FRACTION",
    "InferenceMemory",
    "MemoryScalars",
    "TrainingMemory",
    "TrainingMemoryColumns",
    "inference_memory",
    "kv_cache_bytes",
    "memory_scalars",
    "quantized_base",
    "training_memory",
    "training_memory_columns",
    "weight_bytes_per_param",
]

CUDA_CONTEXT_BYTES = 600 * 2**20
"""CUDA context + cuBLAS workspaces, not seen by ``max_memory_allocated`` (typical for CUDA 12, our estimate)."""

FRAGMENTATION_FRACTION = 0.03
"""Caching-allocator slack on top of allocated bytes (reserved − allocated), our estimate."""

_NF4_BITS = 4.0
_NF4_BLOCK = 64
_DOUBLE_QUANT_BLOCK = 256


def weight_bytes_per_param(precision: str, *, double_quant: bool = True, block_size: int = _NF4_BLOCK) -> float:
    """Stored bytes per frozen weight parameter of a quantisable linear layer.

    nf4: 0.5 byte + one fp32 absmax per ``block_size`` weights, or with double quantisation one 8-bit
    absmax per block plus one fp32 constant per 256 blocks (QLoRA Sec. 3: 32/64 = 0.5 bit → 8/64 +
    32/(64·256) = 0.127 bit). int8 (LLM.int8()): 1 byte + an fp32 scale per output row (neglected here).
    """
    if precision == "nf4":
        if double_quant:
            return _NF4_BITS / 8 + 1.0 / block_size + 4.0 / (block_size * _DOUBLE_QUANT_BLOCK)
        return _NF4_BITS / 8 + 4.0 / block_size
    return {"fp32": 4.0, "bf16-mixed": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0}[precision]


def quantized_base(terms: CostTerms, precision: str) -> str | None:
    """The frozen base's storage format when it is quantised (QLoRA's own NF4, or an int8/nf4 precision)."""
    return terms.quantized_base or (precision if precision in {"int8", "nf4"} else None)


def kv_cache_bytes(arch: Architecture, *, batch: int, context_tokens: int, dtype_bytes: int = 2) -> float:
    """K and V for every layer: 2 · L · kv_heads · head_dim · context · batch · bytes."""
    return (
        2.0 * arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim * context_tokens * batch * dtype_bytes
    )


@dataclass(frozen=True, slots=True)
class TrainingMemory:
    """Per-GPU bytes at the peak instant (fields sum to ``allocated_bytes``), and the per-sequence slope."""

    weights: float
    kv_cache: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    allocated_bytes: float
    fixed_bytes: float
    bytes_per_sequence: float


@dataclass(frozen=True, slots=True)
class _PersistentState:
    """Per-GPU bytes that do not depend on the micro-batch, before any sharding."""

    weights: float
    gradients: float
    optimizer: float
    half_full: bool  # full fine-tuning in pure bf16/fp16: trained weights and their states are 16-bit
    added_params: int


def _persistent_state(
    arch: Architecture,
    counts: ParameterCount,
    terms: CostTerms,
    *,
    precision: str,
    optimizer: str,
    trainable_params: int,
    added_params: int,
    double_quant: bool,
) -> _PersistentState:
    """Weights by precision, gradients and optimizer states (see :func:`training_memory`'s Notes)."""
    quantized = quantized_base(terms, precision)
    linear = decoder_linear_params(arch)
    total = counts.total_params
    base_trained = trainable_params if not terms.adapter_params_are_new else terms.base_params_trained
    half_full = terms.base_trainable and precision in {"bf16", "fp16"}
    trained_bytes = 2.0 if half_full else 4.0
    if quantized:
        q_bytes = weight_bytes_per_param(quantized, double_quant=double_quant)
        frozen_linear = linear - min(base_trained, linear)
        frozen_other = total - linear - max(base_trained - linear, 0)
        frozen_weights = frozen_linear * q_bytes + frozen_other * 2.0
    else:
        frozen_weights = (total - base_trained) * weight_bytes_per_param(precision)
    weights = frozen_weights + base_trained * trained_bytes + added_params * 4.0
    if terms.added_frozen_params:
        weights += terms.added_frozen_params * 4.0
    n_trainable = base_trained + added_params
    state_bytes_per_param = {
        "adamw": 2.0 * (trained_bytes if half_full else 4.0),
        "adamw_8bit": 2.0,
        "sgd": trained_bytes if half_full else 4.0,
    }
    return _PersistentState(
        weights=weights,
        gradients=n_trainable * (trained_bytes if half_full else 4.0),
        optimizer=n_trainable * state_bytes_per_param[optimizer],
        half_full=half_full,
        added_params=added_params,
    )


def _fp32_linear_params(
    arch: Architecture,
    counts: ParameterCount,
    terms: CostTerms,
    state: _PersistentState,
    precision: str,
    backward_layers: int,
) -> float:
    """fp32 linear weights a 16-bit-compute step casts (autocast) and keeps for the backward."""
    linear = decoder_linear_params(arch)
    fp32_linear = 0.0
    if precision in {"bf16-mixed"} or (terms.base_trainable and not state.half_full):
        fp32_linear = linear * backward_layers / max(arch.num_hidden_layers, 1)
        if terms.base_trainable or precision == "bf16-mixed":
            fp32_linear += counts.lm_head_params or counts.embedding_params
    elif terms.top_layers_trainable:
        fp32_linear = linear * terms.top_layers_trainable / max(arch.num_hidden_layers, 1)
    return fp32_linear + state.added_params


def _sharded(state: _PersistentState, arch: Architecture, *, n_gpus: int, sharding: str) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes on one GPU: ZeRO stage 1 shards the optimizer states, 2 also
    the gradients, 3 / FSDP also the weights, of which one block is gathered and one prefetched (ZeRO Sec. 5)."""
    weights, grad_bytes, opt = state.weights, state.gradients, state.optimizer
    if n_gpus > 1:
        if sharding in {"zero1", "zero2", "zero3", "fsdp"}:
            opt /= n_gpus
        if sharding in {"zero2", "zero3", "fsdp"}:
            grad_bytes /= n_gpus
        if sharding in {"zero3", "fsdp"}:
            per_layer_weights = weights / max(arch.num_hidden_layers, 1)
            weights = weights / n_gpus + 2.0 * per_layer_weights  # one block gathered, one prefetched
    return weights, grad_bytes, opt


def _autocast_copy_bytes(
    arch: Architecture,
    counts: ParameterCount,
    terms: CostTerms,
    state: _PersistentState,
    model_pass: ModelPass,
    *,
    precision: str,
    gradient_checkpointing: bool,
    n_gpus: int,
    sharding: str,
) -> float:
    """16-bit copies of fp32 linear weights autocast keeps for the backward (per micro-batch, independent of
    the tokens); none in fp32 compute."""
    if precision == "fp32":
        return 0.0
    fp32_linear = _fp32_linear_params(arch, counts, terms, state, precision, model_pass.backward_layers)
    if gradient_checkpointing or (n_gpus > 1 and sharding in {"zero3", "fsdp"}):
        # recomputed block by block, or (ZeRO-3/FSDP) gathered in 16 bits one block at a time
        fp32_linear = fp32_linear / max(arch.num_hidden_layers, 1)
    return 2.0 * fp32_linear


def _backward_start(
    arch: Architecture, model_pass: ModelPass, *, precision: str, compute_bytes: int, gradient_checkpointing: bool
) -> tuple[float, float]:
    """(activation bytes, logit bytes) at the larger instant before the blocks' backward: every saved
    activation and the loss backward's logits, or under checkpointing the block checkpoints with either
    the loss backward or the first block being rebuilt (Korthikanti et al. 2022, Eq. 1–2)."""
    tokens = max(model_pass.logit_tokens, 1)
    vocab = arch.vocab_size
    logits_peak = (compute_bytes + 12.0) * vocab * model_pass.logit_tokens
    if not gradient_checkpointing:
        return model_pass.layers_saved_bytes + model_pass.head_saved_bytes, logits_peak
    residual_bytes = 4 if precision in {"fp32", "bf16-mixed"} else 2
    checkpoints = float(model_pass.backward_layers * residual_bytes * arch.hidden_size * tokens)
    acts_start = checkpoints + model_pass.head_saved_bytes
    working = model_pass.max_layer_saved_bytes
    start = acts_start + logits_peak
    mid = checkpoints + working + compute_bytes * vocab * tokens
    if mid > start:
        return checkpoints + working, float(compute_bytes * vocab * tokens)
    return acts_start, logits_peak


def _training_kv_cache_bytes(
    arch: Architecture,
    terms: CostTerms,
    model_pass: ModelPass,
    *,
    precision: str,
    compute_bytes: int,
    batch: int,
    use_cache: bool,
    gradient_checkpointing: bool,
) -> float:
    """The DynamicCache a training forward builds unless ``use_cache=False``.

    transformers switches it off under gradient checkpointing; torch.cat copies K (fp32 when the rotary
    tables follow an fp32 residual stream) and V of every layer into it, and the returned output keeps it
    through backward.
    """
    if not use_cache or gradient_checkpointing:
        return 0.0
    k_bytes = 4 if precision in {"fp32", "bf16-mixed"} else compute_bytes
    per_token = arch.num_key_value_heads * arch.head_dim * (k_bytes + compute_bytes)
    s_k = model_pass.logit_tokens // max(batch, 1) + terms.prefix_tokens
    return arch.num_hidden_layers * per_token * batch * s_k


def _peak_instant(
    arch: Architecture,
    model_pass: ModelPass,
    *,
    weights: float,
    copies: float,
    gradients: float,
    optimizer: float,
    backward_start: tuple[float, float],
    train_kv: float,
    compute_bytes: int,
    batch: int,
) -> TrainingMemory:
    """The larger of the two instants: the start of backward (``backward_start``'s activations and logits,
    the autocast copies) or its end (every gradient present, activations gone but one block's)."""
    grad_bytes, opt = gradients, optimizer
    acts_peak, logits_at_peak = backward_start
    final_logits = compute_bytes * arch.vocab_size * max(model_pass.logit_tokens, 1)
    start_total = acts_peak + logits_at_peak + copies + train_kv
    # end of backward: every gradient present, activations gone but one block's
    end_total = grad_bytes + (model_pass.max_layer_saved_bytes + final_logits) + train_kv
    at_end = end_total > start_total
    if at_end:
        grads_at_peak = grad_bytes
        acts_at_peak = model_pass.max_layer_saved_bytes
        logits_final = float(final_logits)
        weights_at_peak = weights + (copies / max(arch.num_hidden_layers, 1))
    else:
        grads_at_peak = 0.0
        acts_at_peak = acts_peak
        logits_final = logits_at_peak
        weights_at_peak = weights + copies
    allocated = weights_at_peak + grads_at_peak + opt + acts_at_peak + logits_final + train_kv
    # memory that does not grow with the micro-batch (used for max_micro_batch_that_fits)
    fixed = weights + copies + opt + (grad_bytes if at_end else 0.0)
    return TrainingMemory(
        weights=weights_at_peak,
        kv_cache=train_kv,
        gradients=grads_at_peak,
        optimizer=opt,
        activations=acts_at_peak,
        logits=logits_final,
        allocated_bytes=allocated,
        fixed_bytes=fixed,
        bytes_per_sequence=max(allocated - fixed, 0.0) / max(batch, 1),
    )


def training_memory(
    arch: Architecture,
    counts: ParameterCount,
    terms: CostTerms,
    model_pass: ModelPass,
    *,
    precision: str,
    optimizer: str,
    gradient_checkpointing: bool,
    batch: int,
    trainable_params: int,
    added_params: int,
    n_gpus: int,
    sharding: str,
    double_quant: bool = True,
    use_cache: bool = True,
) -> TrainingMemory:
    """Peak allocated bytes of one training micro-step on one of ``n_gpus`` GPUs.

    Notes
    -----
    Our own accounting (see module references). Symbols: N = ``counts.total_params``, P = trainable
    base parameters, A = added (adapter) parameters, T = micro-batch tokens, V = vocabulary.

    - weights: frozen parameters at the precision's bytes (NF4/int8 only for decoder linear layers;
      embeddings, norms and lm_head stay 16-bit), trained base weights and adapters in fp32 (the peft
      default) unless the method is full fine-tuning in pure bf16/fp16;
    - autocast copies: fp32 linear weights used in 16-bit compute are cast once per forward and kept
      for the backward (2 bytes each) unless checkpointing recomputes them block by block;
    - gradients: one per trainable parameter in its dtype; optimizer: AdamW 2 states, 8-bit AdamW
      2 bytes, SGD (momentum) 1 state;
    - logits: the 16-bit logits held by the output (c·V), and at the loss backward the fp32 log-softmax
      output, its incoming gradient and the outgoing gradient (3 · 4·V): (c + 12)·V bytes per token.
    """
    compute_bytes = 4 if precision == "fp32" else 2
    state = _persistent_state(
        arch,
        counts,
        terms,
        precision=precision,
        optimizer=optimizer,
        trainable_params=trainable_params,
        added_params=added_params,
        double_quant=double_quant,
    )
    weights, grad_bytes, opt = _sharded(state, arch, n_gpus=n_gpus, sharding=sharding)
    copies = _autocast_copy_bytes(
        arch,
        counts,
        terms,
        state,
        model_pass,
        precision=precision,
        gradient_checkpointing=gradient_checkpointing,
        n_gpus=n_gpus,
        sharding=sharding,
    )
    acts_peak, logits_at_peak = _backward_start(
        arch,
        model_pass,
        precision=precision,
        compute_bytes=compute_bytes,
        gradient_checkpointing=gradient_checkpointing,
    )
    train_kv = _training_kv_cache_bytes(
        arch,
        terms,
        model_pass,
        precision=precision,
        compute_bytes=compute_bytes,
        batch=batch,
        use_cache=use_cache,
        gradient_checkpointing=gradient_checkpointing,
    )
    return _peak_instant(
        arch,
        model_pass,
        weights=weights,
        copies=copies,
        gradients=grad_bytes,
        optimizer=opt,
        backward_start=(acts_peak, logits_at_peak),
        train_kv=train_kv,
        compute_bytes=compute_bytes,
        batch=batch,
    )


@dataclass(frozen=True, slots=True)
class InferenceMemory:
    """Per-GPU bytes at the end of a prefill (the inference peak), and the part that grows per query."""

    weights: float
    kv_cache: float
    activations: float
    logits: float
    allocated_bytes: float
    bytes_per_query: float


def inference_memory(
    arch: Architecture,
    *,
    weights_bytes: float,
    batch: int,
    prompt_tokens: int,
    output_tokens: int,
    all_logits: bool = False,
) -> InferenceMemory:
    """Peak allocated bytes of batched generation (or of one forward returning every logit).

    Notes
    -----
    Our own accounting: weights + the KV cache at its final length (2·L·kv_heads·head_dim·(prompt +
    output)·batch·2 bytes) + the last hidden state and its norm (2 · 2·h per prompt token) + logits:
    16-bit for every prompt position when ``all_logits`` (a plain forward), else the last position's
    logits and their fp32 copy (6·V per query, what ``generate`` keeps).
    """
    tokens = batch * prompt_tokens
    kv = kv_cache_bytes(arch, batch=batch, context_tokens=prompt_tokens + output_tokens)
    acts = 4.0 * arch.hidden_size * tokens
    logits = 2.0 * arch.vocab_size * tokens if all_logits else 6.0 * arch.vocab_size * batch
    allocated = weights_bytes + kv + acts + logits
    return InferenceMemory(weights_bytes, kv, acts, logits, allocated, (allocated - weights_bytes) / max(batch, 1))


@dataclass(frozen=True, slots=True)
class MemoryScalars:
    """What :func:`training_memory` needs of a candidate besides its micro-batch shape and GPU count:
    the persistent state before sharding and the switches its branches read (per architecture, method
    and training settings; gathered into arrays, one entry per candidate, by the vectorised path)."""

    compute_bytes: float  # c: 4 in fp32, else 2
    weights: float
    gradients: float
    optimizer: float
    fp32_linear: float  # fp32 linear weights cast for 16-bit compute (0 when c == 4)
    n_layers: float
    shard_optimizer: bool  # zero1 and up
    shard_gradients: bool  # zero2 and up
    gather_weights: bool  # zero3 / fsdp
    checkpointing: bool
    residual_bytes: float  # of the checkpointed residual stream
    vocab: float
    hidden: float
    kv_bytes_per_token: float  # the training forward's DynamicCache per token and layer (0 when not kept)
    prefix_tokens: float


def memory_scalars(
    arch: Architecture,
    counts: ParameterCount,
    terms: CostTerms,
    *,
    precision: str,
    optimizer: str,
    gradient_checkpointing: bool,
    backward_layers: int,
    trainable_params: int,
    added_params: int,
    sharding: str,
    double_quant: bool = True,
    use_cache: bool = True,
) -> MemoryScalars:
    """:class:`MemoryScalars` of one training configuration (the shape-independent part of :func:`training_memory`)."""
    c = 4 if precision == "fp32" else 2
    state = _persistent_state(
        arch,
        counts,
        terms,
        precision=precision,
        optimizer=optimizer,
        trainable_params=trainable_params,
        added_params=added_params,
        double_quant=double_quant,
    )
    k_bytes = 4 if precision in {"fp32", "bf16-mixed"} else c
    kept_cache = use_cache and not gradient_checkpointing
    return MemoryScalars(
        compute_bytes=float(c),
        weights=state.weights,
        gradients=state.gradients,
        optimizer=state.optimizer,
        fp32_linear=_fp32_linear_params(arch, counts, terms, state, precision, backward_layers) if c == 2 else 0.0,
        n_layers=float(max(arch.num_hidden_layers, 1)),
        shard_optimizer=sharding in {"zero1", "zero2", "zero3", "fsdp"},
        shard_gradients=sharding in {"zero2", "zero3", "fsdp"},
        gather_weights=sharding in {"zero3", "fsdp"},
        checkpointing=gradient_checkpointing,
        residual_bytes=4.0 if precision in {"fp32", "bf16-mixed"} else 2.0,
        vocab=float(arch.vocab_size),
        hidden=float(arch.hidden_size),
        kv_bytes_per_token=(
            float(arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim * (k_bytes + c))
            if kept_cache
            else 0.0
        ),
        prefix_tokens=float(terms.prefix_tokens),
    )


@dataclass(frozen=True, slots=True)
class TrainingMemoryColumns:
    """:class:`TrainingMemory` for arrays of candidates (one entry each)."""

    weights: NDArray[np.float64]
    kv_cache: NDArray[np.float64]
    gradients: NDArray[np.float64]
    optimizer: NDArray[np.float64]
    activations: NDArray[np.float64]
    logits: NDArray[np.float64]
    allocated_bytes: NDArray[np.float64]
    fixed_bytes: NDArray[np.float64]
    bytes_per_sequence: NDArray[np.float64]


def training_memory_columns(
    m: Mapping[str, NDArray[Any]], model_pass: PassColumns, *, batch: NDArray[np.float64], n_gpus: NDArray[np.float64]
) -> TrainingMemoryColumns:
    """:func:`training_memory` over arrays: ``m`` holds each :class:`MemoryScalars` field as one entry per
    candidate, ``model_pass`` the candidates' passes (the same accounting, its branches as ``np.where``)."""
    c, n_layers = m["compute_bytes"], m["n_layers"]
    multi = n_gpus > 1
    opt = np.where(multi & m["shard_optimizer"], m["optimizer"] / n_gpus, m["optimizer"])
    grads = np.where(multi & m["shard_gradients"], m["gradients"] / n_gpus, m["gradients"])
    gathered = multi & m["gather_weights"]
    weights_one = m["weights"]
    weights = np.where(gathered, weights_one / n_gpus + 2.0 * (weights_one / n_layers), weights_one)
    per_block = m["checkpointing"] | gathered
    copies = 2.0 * np.where(per_block, m["fp32_linear"] / n_layers, m["fp32_linear"])

    logit_tokens = model_pass.logit_tokens
    tokens = np.maximum(logit_tokens, 1.0)
    vocab = m["vocab"]
    logits_peak = (c + 12.0) * vocab * logit_tokens
    final_logits = c * vocab * tokens
    checkpoints = model_pass.backward_layers * m["residual_bytes"] * m["hidden"] * tokens
    acts_start = checkpoints + model_pass.head_saved_bytes
    rebuilt = checkpoints + model_pass.max_layer_saved_bytes + final_logits > acts_start + logits_peak
    ckpt = m["checkpointing"]
    acts_peak = np.where(
        ckpt,
        np.where(rebuilt, checkpoints + model_pass.max_layer_saved_bytes, acts_start),
        model_pass.layers_saved_bytes + model_pass.head_saved_bytes,
    )
    logits_at_peak = np.where(ckpt & rebuilt, final_logits, logits_peak)
    s_k = np.floor_divide(logit_tokens, np.maximum(batch, 1.0)) + m["prefix_tokens"]
    train_kv = m["kv_bytes_per_token"] * batch * s_k
    start_total = acts_peak + logits_at_peak + copies + train_kv
    end_total = grads + (model_pass.max_layer_saved_bytes + final_logits) + train_kv
    at_end = end_total > start_total
    weights_at_peak = np.where(at_end, weights + copies / n_layers, weights + copies)
    grads_at_peak = np.where(at_end, grads, 0.0)
    acts_at_peak = np.where(at_end, model_pass.max_layer_saved_bytes, acts_peak)
    logits_final = np.where(at_end, final_logits, logits_at_peak)
    allocated = weights_at_peak + grads_at_peak + opt + acts_at_peak + logits_final + train_kv
    fixed = weights + copies + opt + np.where(at_end, grads, 0.0)
    return TrainingMemoryColumns(
        weights=weights_at_peak,
        kv_cache=train_kv,
        gradients=grads_at_peak,
        optimizer=opt,
        activations=acts_at_peak,
        logits=logits_final,
        allocated_bytes=allocated,
        fixed_bytes=fixed,
        bytes_per_sequence=np.maximum(allocated - fixed, 0.0) / np.maximum(batch, 1.0),
    )
