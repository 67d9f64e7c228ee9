"""Per-architecture counts the cost model reads on every candidate, each computed in one place.

Memoised on the :class:`~predictors.architecture.Architecture` value (a frozen, hashable dataclass whose
``hf_config`` takes no part in equality), so equal architectures share one entry and a planner grid
costing the same model many times counts it once.
"""

from __future__ import annotations

import functools

from predictors.architecture import Architecture, ParameterCount, count_parameters

__all__ = ["decoder_linear_params", "decoder_matmul_flops_per_token", "parameter_counts"]

_ARCHITECTURES_KEPT = 4096


@functools.lru_cache(maxsize=_ARCHITECTURES_KEPT)
def parameter_counts(arch: Architecture) -> ParameterCount:
    """:func:`~predictors.architecture.count_parameters` of ``arch``, memoised."""
    return count_parameters(arch)


@functools.lru_cache(maxsize=_ARCHITECTURES_KEPT)
def decoder_linear_params(arch: Architecture) -> int:
    """Parameters of the decoder's linear layers, every expert counted: the ones NF4/int8 quantise
    (bitsandbytes replaces ``nn.Linear``; embeddings, norms and ``lm_head`` stay 16-bit)."""
    return arch.num_hidden_layers * sum(module.params * module.n_experts for module in arch.linear_modules)


@functools.lru_cache(maxsize=_ARCHITECTURES_KEPT)
def decoder_matmul_flops_per_token(arch: Architecture) -> float:
    """Matmul FLOPs of one token through every decoder linear layer (2 · in · out, routed experts only)."""
    return arch.num_hidden_layers * sum(
        2.0
        * module.in_features
        * module.out_features
        * (min(module.n_experts, arch.num_experts_per_token) if module.n_experts > 1 else 1)
        for module in arch.linear_modules
    )
