"""BOFT: OFT whose orthogonal matrix is a product of m butterfly factors (block-diagonal rotations, permuted).

References
----------
Liu et al. 2024, "Parameter-Efficient Orthogonal Finetuning via Butterfly Factorization", arXiv:2311.06243,
Eq. 4 (R = B_m·…·B_1, each B_i = P_iᵀ·diag(R_i1, …)·P_i with b × b Cayley-orthogonal blocks), and peft 0.21
``BOFTModel`` on the CPU: per forward each factor's blocks come from a Cayley ``linalg.solve`` (no matmul),
are laid out block-diagonally and conjugated by the frozen permutation matrices P (m × d_in × d_in fp32
buffers, two batched d_in³ products), the factors are multiplied together and by the identity (d_in³ each),
x·R runs per token before the frozen layer, and the output is scaled by a trained vector s (d_out).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["BoftConfig"]


class BoftConfig(LinearTargetsConfig):
    """BOFT parameters, with peft's names and defaults (``block_size``, ``n_butterfly_factor`` drop ``boft_``)."""

    name: Literal["boft"] = "boft"
    block_size: int = Field(4, ge=2, le=65536, description="Width b of each orthogonal block.")
    n_butterfly_factor: int = Field(
        1,
        ge=1,
        le=1,
        description="Butterfly factors m; peft builds m > 1 only with its CUDA block-diagonal extension, which the "
        "workers do not compile (it silently builds m = 1 otherwise), so 1.",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Multiplicative dropout of whole blocks.")


def _modules(arch: Architecture, config: Any) -> list[LinearModule]:
    """The adapted modules; peft's divisibility rule as an error naming the field."""
    modules = linear_targets(arch, config, method="BOFT")
    b = int(config.block_size)
    for module in modules:
        if module.in_features % b:
            raise InvalidInputError(
                "method.block_size", f"{module.name}'s {module.in_features} inputs are not divisible by {b}"
            )
    return modules


def boft_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, m·(d_in / b) blocks of b × b entries and the output scale s (d_out)."""
    m, b = int(config.n_butterfly_factor), int(config.block_size)
    return arch.num_hidden_layers * sum(
        m * module.in_features * b + module.out_features for module in _modules(arch, config)
    )


def _rebuild(module: LinearModule, m: int) -> tuple[float, float, float]:
    """(forward FLOPs, backward FLOPs, kept elements) of building R once (see the module notes): 2m batched
    products with P, m - 1 between factors and one with the identity, d³ each; back, P and the identity are
    constants and the factor chain takes two products per product."""
    d3, d2 = float(module.in_features) ** 3, float(module.in_features) ** 2
    forward = (4 * m + 2 * (m - 1) + 2) * d3
    backward = (4 * m + 4 * (m - 1) + 2) * d3
    chain_kept = 0.0 if m == 1 else (m + m - 2) * d2  # the factors' stack and the running products
    return forward, backward, chain_kept + 2.0 * d2  # the identity and R itself


def boft_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A dense input rotation (block width d_in) before the frozen matmul, the scaled output kept for s's
    gradient, R rebuilt once per forward, and the permutation buffers as frozen fp32 weights."""
    modules = _modules(arch, config)
    m = int(config.n_butterfly_factor)
    rebuild = {module.name: _rebuild(module, m) for module in modules}
    return CostTerms(
        input_rotations=tuple((module.name, module.in_features) for module in modules),
        adapter_saved_outputs=1,
        adapter_weight_flops=tuple((name, f) for name, (f, _, _) in rebuild.items()),
        adapter_weight_backward_flops=tuple((name, b) for name, (_, b, _) in rebuild.items()),
        adapter_weight_saved=tuple((name, kept) for name, (_, _, kept) in rebuild.items()),
        added_frozen_params=arch.num_hidden_layers * sum(m * module.in_features**2 for module in modules),
    )


def boft_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "BOFTConfig",
        "peft_kwargs": {
            "boft_block_size": config.block_size,
            "boft_block_num": 0,
            "boft_n_butterfly_factor": config.n_butterfly_factor,
            "boft_dropout": config.dropout,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="boft",
        config_cls=BoftConfig,
        kind="finetune",
        summary="Orthogonal finetuning with a butterfly-factorised rotation and a trained output scale.",
        reference="Liu et al. 2024, arXiv:2311.06243",
        trainable_params=boft_trainable_params,
        worker_plan=boft_worker_plan,
        cost_terms=boft_cost_terms,
        examples=({"block_size": 8, "target_modules": "all-linear"},),
    )
)
