"""LoHa: a Hadamard product of two low-rank matrices as the weight update (LyCORIS, as peft builds it).

References
----------
Hyeon-Woo et al. 2022, "FedPara: Low-Rank Hadamard Product for Communication-Efficient Federated Learning",
arXiv:2108.06098, Eq. 2 (ΔW = (B1·A1) ⊙ (B2·A2), rank r² from 2·r·(d_in + d_out) parameters); peft 0.21
``LoHaModel``: each forward rebuilds ΔW with ``HadaWeight`` (two r-products; its backward recomputes both and
runs four gradient products) and adds ``F.linear(x, ΔW)`` to the frozen layer's output.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["LohaConfig"]


class LohaConfig(LinearTargetsConfig):
    """LoHa parameters, with peft's names and defaults."""

    name: Literal["loha"] = "loha"
    rank: int = Field(8, ge=1, le=4096, description="Rank r of each of the two factor pairs.")
    alpha: float = Field(8.0, gt=0, le=1e6, description="Scaling numerator: ΔW is scaled by alpha / rank.")
    rank_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout of ΔW's output rows while training.")
    module_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Chance of skipping the adapter in a step.")


def loha_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, two pairs B_k (d_out × r), A_k (r × d_in): 2·r·(d_in + d_out)."""
    modules = linear_targets(arch, config, method="LoHa")
    return arch.num_hidden_layers * sum(2 * int(config.rank) * (m.in_features + m.out_features) for m in modules)


def loha_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A dense ΔW per adapted module: two products of 2·d_out·r·d_in FLOPs per forward, six per backward."""
    modules = linear_targets(arch, config, method="LoHa")
    product = {m.name: 2.0 * m.out_features * int(config.rank) * m.in_features for m in modules}
    return CostTerms(
        dense_adapters=tuple(product),
        adapter_weight_flops=tuple((name, 2.0 * flops) for name, flops in product.items()),
        adapter_weight_backward_flops=tuple((name, 6.0 * flops) for name, flops in product.items()),
    )


def loha_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "LoHaConfig",
        "peft_kwargs": {
            "r": config.rank,
            "alpha": config.alpha,
            "rank_dropout": config.rank_dropout,
            "module_dropout": config.module_dropout,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="loha",
        config_cls=LohaConfig,
        kind="finetune",
        summary="Weight update as the Hadamard product of two low-rank products (rank r² from r-sized factors).",
        reference="Hyeon-Woo et al. 2022, arXiv:2108.06098",
        trainable_params=loha_trainable_params,
        worker_plan=loha_worker_plan,
        cost_terms=loha_cost_terms,
        examples=({"rank": 4, "target_modules": "all-linear"},),
    )
)
