"""HRA: the frozen weight times a chain of r trained Householder reflections, W = W0·H_1·…·H_r.

References
----------
Yuan et al. 2024, "Bridging The Gap between Low-rank and Orthogonal Adaptation via Householder Reflection
Adaptation", arXiv:2405.17484, Eq. 4 (H_i = I − 2·u_i·u_iᵀ/‖u_i‖², u_i ∈ R^{d_in}: r·d_in parameters per
matrix), and peft 0.21 ``HRAModel`` without Gram-Schmidt: each forward builds H = I − 2·H·u·uᵀ reflection by
reflection (two d_in² products each), multiplies the identity by it (a full d_in³ product, as peft does),
then W0 by it (2·d_out·d_in²), and runs ``F.linear(x, W0·H)`` in place of the frozen layer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["HraConfig"]


class HraConfig(LinearTargetsConfig):
    """HRA parameters, with peft's names and defaults (the Gram-Schmidt variant is not offered)."""

    name: Literal["hra"] = "hra"
    rank: int = Field(8, ge=1, le=4096, description="Number r of Householder reflections per adapted matrix.")


def hra_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, r reflection vectors of d_in entries."""
    modules = linear_targets(arch, config, method="HRA")
    return arch.num_hidden_layers * sum(int(config.rank) * m.in_features for m in modules)


def _rebuild(m: LinearModule, r: int) -> tuple[float, float, float]:
    """(forward FLOPs, backward FLOPs, kept elements) of building W0·H once: r reflections (2·d² each for
    H·u and (H·u)·uᵀ; four such in the backward, three for the first, whose H is the identity), I·H (2·d³)
    and W0·H (2·d_out·d², one gradient product back); kept: the r partial products, the identity and W0·H."""
    d, out = float(m.in_features), float(m.out_features)
    forward = 4.0 * r * d * d + 2.0 * d**3 + 2.0 * out * d * d
    backward = 8.0 * r * d * d - 2.0 * d * d + 2.0 * d**3 + 2.0 * out * d * d
    return forward, backward, (r + 1) * d * d + out * d


def hra_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """The frozen matmul on a rebuilt weight (its weight gradient runs), plus the rebuild once per forward."""
    modules = linear_targets(arch, config, method="HRA")
    rebuild = {m.name: _rebuild(m, int(config.rank)) for m in modules}
    return CostTerms(
        rebuilt_weights=tuple(rebuild),
        adapter_weight_flops=tuple((name, f) for name, (f, _, _) in rebuild.items()),
        adapter_weight_backward_flops=tuple((name, b) for name, (_, b, _) in rebuild.items()),
        adapter_weight_saved=tuple((name, kept) for name, (_, _, kept) in rebuild.items()),
    )


def hra_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "HRAConfig",
        "peft_kwargs": {"r": config.rank, "apply_GS": False, "target_modules": config.target_modules},
    }


register_method(
    MethodSpec(
        name="hra",
        config_cls=HraConfig,
        kind="finetune",
        summary="The frozen weight times a chain of trained Householder reflections (orthogonal, low-rank).",
        reference="Yuan et al. 2024, arXiv:2405.17484",
        trainable_params=hra_trainable_params,
        worker_plan=hra_worker_plan,
        cost_terms=hra_cost_terms,
        examples=({"rank": 4, "target_modules": "all-linear"},),
    )
)
