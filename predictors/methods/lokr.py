"""LoKr: a Kronecker product of a small factor and a (low-rank) large one as the weight update.

References
----------
Yeh et al. 2024, "Navigating Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation",
arXiv:2309.14859, Sec. 3.2 (ΔW = W1 ⊗ W2, W2 = B·A when low-rank); peft 0.21 ``LoKrModel`` shapes:
d_out = a·c and d_in = b·d by ``factorization`` (divisors nearest √d, or ``decompose_factor``); W1 (a × b) is
full unless ``decompose_both`` and r < max(a, b)/2; W2 (c × d) is full unless r < max(c, d)/2. Each forward
rebuilds ΔW (``torch.kron``, no matmul) and adds ``F.linear(x, ΔW)`` to the frozen layer's output.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["LokrConfig", "factorization"]


class LokrConfig(LinearTargetsConfig):
    """LoKr parameters, with peft's names and defaults."""

    name: Literal["lokr"] = "lokr"
    rank: int = Field(8, ge=1, le=4096, description="Rank r of the low-rank Kronecker factor(s).")
    alpha: float = Field(8.0, gt=0, le=1e6, description="Scaling numerator: ΔW is scaled by alpha / rank.")
    decompose_both: bool = Field(False, description="Make the small Kronecker factor low-rank too.")
    decompose_factor: int = Field(-1, ge=-1, le=65536, description="Size of the small factor (-1: near √d).")


def factorization(dimension: int, factor: int = -1) -> tuple[int, int]:
    """(m, n) with m·n = dimension: (``factor``, dimension / factor) when it divides, else the divisor pair
    nearest √dimension (m ≤ n, m not above ``factor``), as peft's ``lokr.layer.factorization``."""
    if factor > 0 and dimension % factor == 0:
        return factor, dimension // factor  # as peft: not reordered
    limit = dimension if factor == -1 else factor
    m, n = 1, dimension
    while m < n:
        new_m = m + 1
        while dimension % new_m:
            new_m += 1
        new_n = dimension // new_m
        if new_m + new_n > m + n or new_m > limit:
            break
        m, n = new_m, new_n
    return (m, n) if m <= n else (n, m)


def _factor_shapes(module: LinearModule, config: Any) -> list[tuple[int, int, bool]]:
    """(rows, columns, low-rank) of W1 and W2 for one adapted module."""
    a, c = factorization(module.out_features, int(config.decompose_factor))
    b, d = factorization(module.in_features, int(config.decompose_factor))
    r = int(config.rank)
    return [(a, b, bool(config.decompose_both) and r < max(a, b) / 2), (c, d, r < max(c, d) / 2)]


def _factor_params(rows: int, columns: int, low_rank: bool, rank: int) -> int:
    return rank * (rows + columns) if low_rank else rows * columns


def lokr_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, W1 and W2, each a × b full or r·(a + b) as a low-rank pair."""
    rank = int(config.rank)
    modules = linear_targets(arch, config, method="LoKr")
    per_layer = sum(_factor_params(*shape, rank) for m in modules for shape in _factor_shapes(m, config))
    return arch.num_hidden_layers * per_layer


def lokr_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A dense ΔW per adapted module; matmuls only in the low-rank factors' products (2·rows·r·columns per
    forward, twice that in the backward)."""
    modules = linear_targets(arch, config, method="LoKr")
    rank = int(config.rank)
    product = {
        m.name: sum(2.0 * rows * rank * cols for rows, cols, low in _factor_shapes(m, config) if low) for m in modules
    }
    return CostTerms(
        dense_adapters=tuple(product),
        adapter_weight_flops=tuple(product.items()),
        adapter_weight_backward_flops=tuple((name, 2.0 * flops) for name, flops in product.items()),
    )


def lokr_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "LoKrConfig",
        "peft_kwargs": {
            "r": config.rank,
            "alpha": config.alpha,
            "decompose_both": config.decompose_both,
            "decompose_factor": config.decompose_factor,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="lokr",
        config_cls=LokrConfig,
        kind="finetune",
        summary="Weight update as the Kronecker product of a small and a low-rank large factor.",
        reference="Yeh et al. 2024, arXiv:2309.14859",
        trainable_params=lokr_trainable_params,
        worker_plan=lokr_worker_plan,
        cost_terms=lokr_cost_terms,
        examples=({"rank": 2, "decompose_both": True, "target_modules": "all-linear"},),
    )
)
