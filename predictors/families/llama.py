"""Llama-style decoder blocks: separate q/k/v/o projections, a SwiGLU MLP, two RMSNorms.

Also the layout of the families transformers builds the same way (Mistral, StarCoder2's Llama-like
successors, Granite, …), and the reading of any ``model_type`` no family claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictors.families.base import Family, Layout, LinearModule, Shape, attention, flag, gated_mlp
from predictors.families.registry import register_family

__all__ = ["llama_layout", "llama_modules"]


def llama_modules(config: Mapping[str, Any], shape: Shape, *, qkv_bias: bool | None = None) -> tuple[LinearModule, ...]:
    """q/k/v/o and gate/up/down; biases from ``attention_bias`` / ``mlp_bias`` (LlamaAttention, LlamaMLP).

    A given ``qkv_bias`` fixes the q/k/v biases and leaves ``o_proj`` without one (Qwen2Attention).
    """
    attention_bias = flag(config, "attention_bias", False)
    mlp_bias = flag(config, "mlp_bias", False)
    q_bias, o_bias = (attention_bias, attention_bias) if qkv_bias is None else (qkv_bias, False)
    return (
        *attention(("q_proj", "k_proj", "v_proj", "o_proj"), shape, qkv_bias=q_bias, out_bias=o_bias),
        *gated_mlp(shape.hidden_size, shape.intermediate_size, mlp_bias),
    )


def llama_layout(config: Mapping[str, Any], shape: Shape) -> Layout:
    return Layout(llama_modules(config, shape))


register_family(
    Family(
        name="llama",
        model_types=(
            "llama",
            "mistral",
            "starcoder2",
            "granite",
            "cohere",
            "stablelm",
            "internlm2",
            "deepseek",
            "yi",
            "baichuan",
        ),
        build=llama_layout,
    )
)
