"""OFT: a trained block-diagonal orthogonal rotation of each adapted layer's input (weight W0·R).

References
----------
Qiu et al. 2023, "Controlling Text-to-Image Diffusion by Orthogonal Finetuning", arXiv:2306.07280, Eq. 4
(W = W0·R, R block-diagonal with r orthogonal b × b blocks, each the Cayley transform of a skew-symmetric Q:
b(b-1)/2 parameters per block), and peft 0.21 ``OFTModel`` (input-centric): per forward R comes from the
Cayley-Neumann series I + 2Q + 2Q² + … (``num_cayley_neumann_terms``; a ``linalg.solve`` without it), then
x is rotated per block (an einsum, 2·d_in·b FLOPs per token) and fed to the frozen layer; peft moves a block
size that does not divide d_in to the nearest divisor.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["OftConfig", "oft_block_width"]


class OftConfig(LinearTargetsConfig):
    """OFT parameters, with peft's names and defaults (``block_size`` is peft's ``oft_block_size``)."""

    name: Literal["oft"] = "oft"
    block_size: int = Field(32, ge=2, le=65536, description="Width b of each orthogonal block (r = d_in / b blocks).")
    block_share: bool = Field(False, description="One block shared by all blocks of a layer.")
    use_cayley_neumann: bool = Field(True, description="Cayley transform by its Neumann series (else a solve).")
    num_cayley_neumann_terms: int = Field(5, ge=1, le=64, description="Terms of the Neumann series.")
    module_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Chance of replacing a block by the identity.")


def oft_block_width(in_features: int, block_size: int) -> int:
    """The block width peft uses on a layer (``OFTLayer.adjust_oft_parameters``): ``block_size`` when it divides
    ``in_features``, else the nearest divisor (the lower one on a tie); ``in_features`` when it is larger."""
    if block_size >= in_features:
        return in_features
    higher = block_size
    while higher <= in_features and in_features % higher:
        higher += 1
    lower = block_size
    while lower > 1 and in_features % lower:
        lower -= 1
    return lower if block_size - lower <= higher - block_size else higher


def _blocks(module: LinearModule, config: Any) -> tuple[int, int]:
    """(trained blocks, width b) of one adapted module."""
    width = oft_block_width(module.in_features, int(config.block_size))
    return (1 if config.block_share else module.in_features // width), width


def _cayley_products(config: Any) -> int:
    """Batched b × b products of the Neumann series in peft's ``_cayley_batch`` (Q², the middle powers, the last)."""
    terms = int(config.num_cayley_neumann_terms)
    return 0 if not config.use_cayley_neumann or terms <= 2 else 2 + max(0, terms - 4)


def oft_trainable_params(arch: Architecture, config: Any) -> int:
    """Per layer and adapted matrix, b(b-1)/2 skew-symmetric entries per trained block."""
    modules = linear_targets(arch, config, method="OFT")
    per_layer = 0
    for m in modules:
        blocks, width = _blocks(m, config)
        per_layer += blocks * width * (width - 1) // 2
    return arch.num_hidden_layers * per_layer


def oft_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Per token x·R (2·d_in·b FLOPs, R's and x's gradients in the backward); per forward the Neumann products
    (2·blocks·b³ each, twice in the backward); R and the series' powers kept for the backward; per adapted
    matrix two int64 index buffers of the b(b-1)/2 upper-triangle positions (``rows``, ``cols``)."""
    modules = linear_targets(arch, config, method="OFT")
    products = _cayley_products(config)
    rotations, weight_flops, weight_saved = [], [], []
    index_units = 0
    for m in modules:
        blocks, width = _blocks(m, config)
        index_units += 2 * 2 * (width * (width - 1) // 2)
        rotations.append((m.name, width))
        weight_flops.append((m.name, products * 2.0 * blocks * width**3))
        weight_saved.append((m.name, float((products + 1) * blocks * width**2)))
    return CostTerms(
        input_rotations=tuple(rotations),
        adapter_weight_flops=tuple(weight_flops),
        adapter_weight_backward_flops=tuple((name, 2.0 * flops) for name, flops in weight_flops),
        adapter_weight_saved=tuple(weight_saved),
        added_frozen_params=arch.num_hidden_layers * index_units,
    )


def oft_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "OFTConfig",
        "peft_kwargs": {
            "r": 0,
            "oft_block_size": config.block_size,
            "block_share": config.block_share,
            "use_cayley_neumann": config.use_cayley_neumann,
            "num_cayley_neumann_terms": config.num_cayley_neumann_terms,
            "module_dropout": config.module_dropout,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="oft",
        config_cls=OftConfig,
        kind="finetune",
        summary="A trained block-diagonal orthogonal rotation of each adapted layer's input.",
        reference="Qiu et al. 2023, arXiv:2306.07280",
        trainable_params=oft_trainable_params,
        worker_plan=oft_worker_plan,
        cost_terms=oft_cost_terms,
        examples=({"block_size": 16, "target_modules": "all-linear"},),
    )
)
