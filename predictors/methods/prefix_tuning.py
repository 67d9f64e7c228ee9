"""Prefix tuning: trained key/value prefixes at every layer.

References
----------
Li and Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation", arXiv:2101.00190,
Sec. 4.2 (P_θ[i,:] = MLP_θ(P'_θ[i,:]) when re-parametrised).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["PrefixTuningConfig", "prefix_token_dim"]


class PrefixTuningConfig(MethodConfig):
    name: Literal["prefix_tuning"] = "prefix_tuning"
    num_virtual_tokens: int = Field(20, ge=1, le=4096, description="Prefix length in tokens.")
    prefix_projection: bool = Field(False, description="Re-parametrise the prefix through a two-layer MLP.")
    encoder_hidden_size: int = Field(512, ge=1, le=65536, description="Hidden width of the projection MLP.")


def prefix_token_dim(arch: Architecture) -> int:
    """Width of one key (or value) prefix vector: KV heads × head_dim (smaller than hidden under GQA)."""
    return arch.num_key_value_heads * arch.head_dim


def prefix_tuning_trainable_params(arch: Architecture, config: Any) -> int:
    """p·L·2·d_kv without projection; with it, p·d_kv embeddings + MLP d_kv→e→L·2·d_kv (with biases).

    peft's ``PrefixEncoder`` sizes its embedding and the projection's input by ``token_dim``, which
    ``_prepare_prompt_learning_config`` sets to KV heads × head_dim under GQA (peft issue #1901), not
    by the hidden size.
    """
    d_kv = prefix_token_dim(arch)
    kv_width = arch.num_hidden_layers * 2 * d_kv
    p = int(config.num_virtual_tokens)
    if not config.prefix_projection:
        return p * kv_width
    e = int(config.encoder_hidden_size)
    return p * d_kv + (d_kv * e + e) + (e * kv_width + kv_width)


def prefix_tuning_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """p trained key/value rows per layer: every query attends to s + p keys."""
    return CostTerms(prefix_tokens=int(config.num_virtual_tokens))


register_method(
    MethodSpec(
        name="prefix_tuning",
        config_cls=PrefixTuningConfig,
        kind="finetune",
        summary="Trained key/value prefixes at every attention layer; the model is frozen.",
        reference="Li and Liang 2021, arXiv:2101.00190",
        trainable_params=prefix_tuning_trainable_params,
        cost_terms=prefix_tuning_cost_terms,
        worker_plan=lambda config: {
            "train": True,
            "peft_config": "PrefixTuningConfig",
            "peft_kwargs": {
                "num_virtual_tokens": config.num_virtual_tokens,
                "prefix_projection": config.prefix_projection,
                "encoder_hidden_size": config.encoder_hidden_size,
            },
        },
        examples=({"num_virtual_tokens": 30},),
    )
)
