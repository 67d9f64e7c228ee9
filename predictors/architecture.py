"""Decoder architectures: one normalised description of a model and its exact parameter count.

Every parameter count in tunecast (the catalog's ``total_params``/``active_params``, the cost model's
trainable and frozen parameters, LoRA target shapes) comes from :func:`count_parameters` over the
module inventory built here, so the catalog and the cost model can never disagree.

The inventory mirrors the modules Hugging Face ``transformers`` builds for each ``model_type`` (the
names are the ones peft's ``target_modules`` match), which is what makes an exact comparison against a
meta-device instance possible. Each family's layout lives in its own module of :mod:`predictors.families`;
this module reads the fields every family shares and assembles the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from predictors.errors import InvalidInputError
from predictors.families import DEFAULT_FAMILY, FAMILIES, Family, Layout, LinearModule, NormKind, Shape, find_family
from predictors.families.base import (
    LLAMA_IA3_FEEDFORWARD,
    LLAMA_IA3_TARGETS,
    LLAMA_MLP_OUTPUTS,
    config_value,
    flag,
    positive_int,
)

__all__ = [
    "IDENTITY_FIELDS",
    "PARAMETER_TOLERANCE",
    "Architecture",
    "LinearModule",
    "ParameterCount",
    "architecture_from_hf_config",
    "count_parameters",
    "identity_mismatches",
]


@dataclass(frozen=True, slots=True)
class Architecture:
    """A decoder-only transformer described by the fields that fix its shape and cost.

    Built by :func:`architecture_from_hf_config`; ``hf_config`` keeps the normalised source fields so
    a worker can rebuild the real model. ``family`` names the :mod:`predictors.families` module that read
    it; the fields after ``hidden_act`` are that family's facts the cost model and the methods read
    (see :class:`~predictors.families.base.Layout` and :class:`~predictors.families.base.Family`).
    """

    model_type: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    norm: NormKind
    norm_bias: bool
    norms_per_layer: int
    learned_position_embeddings: int
    lm_head_bias: bool
    num_experts: int
    num_experts_per_token: int
    linear_modules: tuple[LinearModule, ...]
    hidden_act: str = "silu"
    family: str = DEFAULT_FAMILY
    parallel_blocks: bool = False
    qk_norm_params_per_layer: int = 0
    ia3_target_modules: tuple[str, ...] = LLAMA_IA3_TARGETS
    ia3_feedforward_modules: tuple[str, ...] = LLAMA_IA3_FEEDFORWARD
    mlp_output_modules: tuple[str, ...] = LLAMA_MLP_OUTPUTS
    fused_expert_pair: tuple[str, str] | None = None
    routed_experts_adaptable: bool = True
    assumptions: tuple[str, ...] = ()
    hf_config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def has_bias(self) -> bool:
        """True when any linear layer or norm carries a bias (BitFit has something to train)."""
        return self.norm_bias or self.lm_head_bias or any(m.bias for m in self.linear_modules)

    def module(self, name: str) -> LinearModule:
        for module in self.linear_modules:
            if module.name == name:
                return module
        raise KeyError(name)

    @property
    def norm_params_per_norm(self) -> int:
        if self.norm == "nonparametric":
            return 0
        return self.hidden_size * (2 if self.norm_bias else 1)


@dataclass(frozen=True, slots=True)
class ParameterCount:
    """Parameter totals with the breakdown the cost model needs.

    ``active_params`` counts one token's path through an MoE model (routed experts only), so equals
    ``total_params`` for dense models.
    """

    total_params: int
    active_params: int
    embedding_params: int
    position_embedding_params: int
    attention_params_per_layer: int
    mlp_params_per_layer: int
    mlp_active_params_per_layer: int
    norm_params_per_layer: int
    final_norm_params: int
    lm_head_params: int

    @property
    def layer_params(self) -> int:
        return self.attention_params_per_layer + self.mlp_params_per_layer + self.norm_params_per_layer

    @property
    def non_embedding_params(self) -> int:
        return self.total_params - self.embedding_params - self.position_embedding_params - self.lm_head_params


def architecture_from_hf_config(config: Mapping[str, Any]) -> Architecture:
    """Normalise a Hugging Face ``config.json`` into an :class:`Architecture`.

    Registered ``model_type`` values (:mod:`predictors.families`) have their exact module layout (biases,
    fused projections, norms, learned positions, MoE experts). Any other decoder with the standard fields
    is read as a Llama-style block and the assumption is recorded in ``assumptions``.

    Raises
    ------
    InvalidInputError
        Missing or non-positive sizes, or shapes that cannot exist (heads not dividing the hidden
        size without an explicit ``head_dim``, KV heads not dividing the heads, more active experts
        than experts). ``field`` names the offending config field.
    """
    model_type = _model_type(config)
    family = find_family(model_type)
    known = family is not None and family.known_layout
    family = family or FAMILIES[DEFAULT_FAMILY]
    layers, vocab, shape, assumptions = _common_fields(config, family)
    tie = flag(config, "tie_word_embeddings", family.tie_word_embeddings)
    hidden_act = str(config.get("hidden_act", config.get("activation_function", "silu")))
    if not known:
        assumptions.append(f"model_type {model_type!r} not in the catalog's layouts: read as a Llama-style block")
    layout = family.build(config, shape)
    assumptions.extend(layout.assumptions)
    if "tie_word_embeddings" not in config:
        assumptions.append(f"tie_word_embeddings missing: {model_type} default {tie} assumed")
    return Architecture(
        model_type=model_type,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        head_dim=shape.head_dim,
        vocab_size=vocab,
        tie_word_embeddings=tie,
        max_position_embeddings=shape.max_position_embeddings,
        linear_modules=layout.linear_modules,
        hidden_act=hidden_act,
        assumptions=tuple(assumptions),
        hf_config=dict(config),
        **_family_facts(family, layout),
    )


def _model_type(config: Mapping[str, Any]) -> str:
    if not isinstance(config, Mapping):
        raise InvalidInputError("architecture", "must be a JSON object (a Hugging Face config.json)")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type.strip():
        raise InvalidInputError("architecture.model_type", "is required (e.g. 'llama', 'qwen2', 'gpt2')")
    return model_type.strip().lower()


def _common_fields(config: Mapping[str, Any], family: Family) -> tuple[int, int, Shape, list[str]]:
    """(layers, vocabulary, the block's shape, assumptions so far): the fields every family shares."""
    hidden = positive_int(config, "hidden_size")
    layers = positive_int(config, "num_hidden_layers")
    heads = positive_int(config, "num_attention_heads")
    vocab = positive_int(config, "vocab_size")
    kv_heads, head_dim = _head_sizes(config, family, hidden=hidden, heads=heads)
    factor = family.default_intermediate_factor
    inter = positive_int(config, "intermediate_size", None if factor is None else factor * hidden)
    assumptions: list[str] = []
    default_ctx = 2048
    max_ctx = config_value(config, "max_position_embeddings", None)
    if max_ctx is None:
        assumptions.append(f"max_position_embeddings missing: assumed {default_ctx}")
        max_ctx = default_ctx
    max_ctx = positive_int({"max_position_embeddings": max_ctx}, "max_position_embeddings")
    return layers, vocab, Shape(hidden, heads, kv_heads, head_dim, inter, max_ctx), assumptions


def _head_sizes(config: Mapping[str, Any], family: Family, *, hidden: int, heads: int) -> tuple[int, int]:
    """(KV heads, head dimension), checked to fit the attention heads and the hidden size."""
    kv_heads = family.key_value_heads(config, heads)
    if kv_heads > heads or heads % kv_heads != 0:
        raise InvalidInputError(
            "architecture.num_key_value_heads",
            f"must divide num_attention_heads ({heads}), got {kv_heads}",
        )
    if config.get("head_dim") is not None:
        return kv_heads, positive_int(config, "head_dim")
    if hidden % heads != 0:
        raise InvalidInputError(
            "architecture.num_attention_heads",
            f"must divide hidden_size ({hidden}) when head_dim is not given, got {heads}",
        )
    return kv_heads, hidden // heads


def _family_facts(family: Family, layout: Layout) -> dict[str, Any]:
    """The :class:`Architecture` fields a family's layout and declaration fix."""
    return {
        "norm": layout.norm,
        "norm_bias": layout.norm_bias,
        "norms_per_layer": layout.norms_per_layer,
        "learned_position_embeddings": layout.learned_position_embeddings,
        "lm_head_bias": layout.lm_head_bias,
        "num_experts": layout.num_experts,
        "num_experts_per_token": layout.num_experts_per_token,
        "family": family.name,
        "parallel_blocks": layout.parallel_blocks,
        "qk_norm_params_per_layer": layout.qk_norm_params_per_layer,
        "ia3_target_modules": family.ia3_target_modules,
        "ia3_feedforward_modules": family.ia3_feedforward_modules,
        "mlp_output_modules": family.mlp_output_modules,
        "fused_expert_pair": family.fused_expert_pair,
        "routed_experts_adaptable": family.routed_experts_adaptable,
    }


def count_parameters(arch: Architecture) -> ParameterCount:
    """Exact parameter count of a decoder from its module inventory.

    Notes
    -----
    total = V·h (embeddings) + P·h (learned positions) + L·(attention + MLP + norms) + final norm
    + lm_head (V·h unless tied, + V when biased). For MoE, expert matrices count ``n_experts`` times
    in the total and ``num_experts_per_token`` times in ``active_params`` (Mixtral's 46.7B / 12.9B).
    Our own bookkeeping, checked against the published count of every catalog model (tests).
    """
    attention = sum(m.params for m in arch.linear_modules if m.kind == "attention") + arch.qk_norm_params_per_layer
    mlp_total = sum(m.params * m.n_experts for m in arch.linear_modules if m.kind in {"mlp", "router"})
    mlp_active = sum(
        m.params * (min(m.n_experts, arch.num_experts_per_token) if m.n_experts > 1 else 1)
        for m in arch.linear_modules
        if m.kind in {"mlp", "router"}
    )
    norms = arch.norms_per_layer * arch.norm_params_per_norm
    final_norm = arch.norm_params_per_norm
    embedding = arch.vocab_size * arch.hidden_size
    positions = arch.learned_position_embeddings * arch.hidden_size
    lm_head = 0 if arch.tie_word_embeddings else arch.vocab_size * arch.hidden_size
    if arch.lm_head_bias:
        lm_head += arch.vocab_size
    shared = embedding + positions + final_norm + lm_head
    layers = arch.num_hidden_layers
    total = shared + layers * (attention + mlp_total + norms)
    active = shared + layers * (attention + mlp_active + norms)
    return ParameterCount(
        total_params=total,
        active_params=active,
        embedding_params=embedding,
        position_embedding_params=positions,
        attention_params_per_layer=attention,
        mlp_params_per_layer=mlp_total,
        mlp_active_params_per_layer=mlp_active,
        norm_params_per_layer=norms,
        final_norm_params=final_norm,
        lm_head_params=lm_head,
    )


IDENTITY_FIELDS: tuple[str, ...] = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
)
"""The fields weights must share with the model they are run as (with the parameter count)."""
PARAMETER_TOLERANCE = 0.01


def identity_mismatches(expected: Architecture, found: Architecture, *, found_params: int | None = None) -> list[str]:
    """How weights of architecture ``found`` (with ``found_params`` parameters when they were counted on the
    loaded model, else counted from ``found``) are not the model ``expected``: each field of
    :data:`IDENTITY_FIELDS` that differs, and a parameter count more than 1 % off. Empty when they are."""
    mismatches = [
        f"{name} {getattr(found, name)!r}, not {getattr(expected, name)!r}"
        for name in IDENTITY_FIELDS
        if getattr(found, name) != getattr(expected, name)
    ]
    wanted = count_parameters(expected).total_params
    counted = found_params if found_params is not None else count_parameters(found).total_params
    if abs(counted - wanted) > PARAMETER_TOLERANCE * wanted:
        mismatches.append(f"{counted:,} parameters, not {wanted:,} (more than 1 % off)")
    return mismatches
