"""Decoder architectures: one normalised description of a model and its exact parameter count.

Every parameter count in tunecast (the catalog's ``total_params``/``active_params``, the cost model's
trainable and frozen parameters, LoRA target shapes) comes from :func:`count_parameters` over the
module inventory built here, so the catalog and the cost model can never disagree.

The inventory mirrors the modules Hugging Face ``transformers`` builds for each ``model_type`` (the
names are the ones peft's ``target_modules`` match), which is what makes an exact comparison against a
meta-device instance possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from predictors.errors import InvalidInputError

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

NormKind = Literal["rmsnorm", "layernorm", "nonparametric"]

# transformers' field aliases (attribute_map) per model family, mapped to our names.
_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"),
}


@dataclass(frozen=True, slots=True)
class LinearModule:
    """One linear (or Conv1D) layer of a decoder block, as transformers names it.

    ``n_experts`` > 1 marks an MoE expert matrix replicated per expert (each expert routed
    ``experts_per_token`` times per token).
    """

    name: str
    in_features: int
    out_features: int
    bias: bool
    kind: Literal["attention", "mlp", "router"]
    n_experts: int = 1

    @property
    def params(self) -> int:
        """Parameters of one copy (one expert): weight plus optional bias."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True, slots=True)
class Architecture:
    """A decoder-only transformer described by the fields that fix its shape and cost.

    Built by :func:`architecture_from_hf_config`; ``hf_config`` keeps the normalised source fields so
    a worker can rebuild the real model.
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


def _get(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    for alias in _FIELD_ALIASES.get(name, (name,)):
        value = config.get(alias)
        if value is not None:
            return value
    return default


def _positive_int(config: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = _get(config, name, default)
    if value is None:
        raise InvalidInputError(f"architecture.{name}", "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"architecture.{name}", f"must be a positive integer, got {value!r}")
    if value <= 0:
        raise InvalidInputError(f"architecture.{name}", f"must be a positive integer, got {value}")
    if value > 10**8:
        raise InvalidInputError(f"architecture.{name}", f"is implausibly large ({value}); at most 100000000")
    return value


def _flag(config: Mapping[str, Any], name: str, default: bool) -> bool:
    value = config.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInputError(f"architecture.{name}", f"must be true or false, got {value!r}")
    return value


def _attention(
    names: tuple[str, str, str, str] | tuple[str, str],
    *,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    qkv_bias: bool,
    out_bias: bool,
) -> tuple[LinearModule, ...]:
    """Attention projections: separate q/k/v/o (4 names) or fused qkv + o (2 names)."""
    q_out, kv_out = heads * head_dim, kv_heads * head_dim
    if len(names) == 4:
        q, k, v, o = names
        return (
            LinearModule(q, hidden, q_out, qkv_bias, "attention"),
            LinearModule(k, hidden, kv_out, qkv_bias, "attention"),
            LinearModule(v, hidden, kv_out, qkv_bias, "attention"),
            LinearModule(o, q_out, hidden, out_bias, "attention"),
        )
    qkv, o = names
    return (
        LinearModule(qkv, hidden, q_out + 2 * kv_out, qkv_bias, "attention"),
        LinearModule(o, q_out, hidden, out_bias, "attention"),
    )


def _gated_mlp(hidden: int, inter: int, bias: bool, experts: int = 1) -> tuple[LinearModule, ...]:
    return (
        LinearModule("gate_proj", hidden, inter, bias, "mlp", experts),
        LinearModule("up_proj", hidden, inter, bias, "mlp", experts),
        LinearModule("down_proj", inter, hidden, bias, "mlp", experts),
    )


def architecture_from_hf_config(config: Mapping[str, Any]) -> Architecture:
    """Normalise a Hugging Face ``config.json`` into an :class:`Architecture`.

    Supported ``model_type`` values have their exact module layout (biases, fused projections,
    norms, learned positions, MoE experts). Any other decoder with the standard fields is read as a
    Llama-style block and the assumption is recorded in ``assumptions``.

    Raises
    ------
    InvalidInputError
        Missing or non-positive sizes, or shapes that cannot exist (heads not dividing the hidden
        size without an explicit ``head_dim``, KV heads not dividing the heads, more active experts
        than experts). ``field`` names the offending config field.
    """
    if not isinstance(config, Mapping):
        raise InvalidInputError("architecture", "must be a JSON object (a Hugging Face config.json)")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type.strip():
        raise InvalidInputError("architecture.model_type", "is required (e.g. 'llama', 'qwen2', 'gpt2')")
    model_type = model_type.strip().lower()
    assumptions: list[str] = []

    hidden = _positive_int(config, "hidden_size")
    layers = _positive_int(config, "num_hidden_layers")
    heads = _positive_int(config, "num_attention_heads")
    vocab = _positive_int(config, "vocab_size")

    if model_type == "falcon":
        multi_query = _flag(config, "multi_query", True)
        new_arch = _flag(config, "new_decoder_architecture", False)
        default_kv = 1 if (multi_query and not new_arch) else heads
        kv_heads = _positive_int(config, "num_kv_heads", default_kv) if new_arch else default_kv
    else:
        kv_heads = _positive_int(config, "num_key_value_heads", heads)
    if kv_heads > heads or heads % kv_heads != 0:
        raise InvalidInputError(
            "architecture.num_key_value_heads",
            f"must divide num_attention_heads ({heads}), got {kv_heads}",
        )
    explicit_head_dim = config.get("head_dim")
    if explicit_head_dim is not None:
        head_dim = _positive_int(config, "head_dim")
    else:
        if hidden % heads != 0:
            raise InvalidInputError(
                "architecture.num_attention_heads",
                f"must divide hidden_size ({hidden}) when head_dim is not given, got {heads}",
            )
        head_dim = hidden // heads

    default_inter = 4 * hidden
    if model_type in {"gpt2", "gpt_neox", "falcon", "phi", "opt"}:
        inter = _positive_int(config, "intermediate_size", default_inter)
    else:
        inter = _positive_int(config, "intermediate_size")

    default_ctx = 2048
    max_ctx = _get(config, "max_position_embeddings", None)
    if max_ctx is None:
        assumptions.append(f"max_position_embeddings missing: assumed {default_ctx}")
        max_ctx = default_ctx
    max_ctx = _positive_int({"max_position_embeddings": max_ctx}, "max_position_embeddings")

    num_experts = 1
    experts_per_token = 1
    tie = _flag(config, "tie_word_embeddings", True)
    hidden_act = str(config.get("hidden_act", config.get("activation_function", "silu")))
    learned_positions = 0
    lm_head_bias = False
    norm: NormKind = "rmsnorm"
    norm_bias = False
    norms_per_layer = 2

    attention_kwargs: dict[str, Any] = {"hidden": hidden, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim}
    modules: tuple[LinearModule, ...]

    if model_type == "gpt2":
        # GPT-2 uses Conv1D with biases everywhere, learned absolute positions, tied lm_head.
        learned_positions = max_ctx
        norm, norm_bias = "layernorm", True
        modules = (
            LinearModule("attn.c_attn", hidden, 3 * hidden, True, "attention"),
            LinearModule("attn.c_proj", hidden, hidden, True, "attention"),
            LinearModule("mlp.c_fc", hidden, inter, True, "mlp"),
            LinearModule("mlp.c_proj", inter, hidden, True, "mlp"),
        )
    elif model_type == "gpt_neox":
        norm, norm_bias = "layernorm", True
        tie = _flag(config, "tie_word_embeddings", False)
        bias = _flag(config, "attention_bias", True)
        modules = (
            LinearModule("query_key_value", hidden, 3 * hidden, bias, "attention"),
            LinearModule("dense", hidden, hidden, bias, "attention"),
            LinearModule("dense_h_to_4h", hidden, inter, True, "mlp"),
            LinearModule("dense_4h_to_h", inter, hidden, True, "mlp"),
        )
    elif model_type == "falcon":
        norm, norm_bias = "layernorm", True
        bias = _flag(config, "bias", False)
        new_arch = _flag(config, "new_decoder_architecture", False)
        parallel = _flag(config, "parallel_attn", True)
        if new_arch:
            norms_per_layer = 2 if config.get("num_ln_in_parallel_attn", 2) == 2 else 1
        else:
            norms_per_layer = 1 if parallel else 2
        modules = (
            *_attention(("query_key_value", "dense"), qkv_bias=bias, out_bias=bias, **attention_kwargs),
            LinearModule("dense_h_to_4h", hidden, inter, bias, "mlp"),
            LinearModule("dense_4h_to_h", inter, hidden, bias, "mlp"),
        )
    elif model_type == "phi":
        # Phi-1/1.5/2: parallel attention + MLP under one LayerNorm, biases everywhere, biased lm_head.
        norm, norm_bias = "layernorm", True
        norms_per_layer = 1
        lm_head_bias = True
        tie = _flag(config, "tie_word_embeddings", False)
        modules = (
            *_attention(("q_proj", "k_proj", "v_proj", "dense"), qkv_bias=True, out_bias=True, **attention_kwargs),
            LinearModule("fc1", hidden, inter, True, "mlp"),
            LinearModule("fc2", inter, hidden, True, "mlp"),
        )
    elif model_type == "phi3":
        tie = _flag(config, "tie_word_embeddings", False)
        modules = (
            *_attention(("qkv_proj", "o_proj"), qkv_bias=False, out_bias=False, **attention_kwargs),
            LinearModule("gate_up_proj", hidden, 2 * inter, False, "mlp"),
            LinearModule("down_proj", inter, hidden, False, "mlp"),
        )
    elif model_type == "opt":
        norm, norm_bias = "layernorm", True
        bias = _flag(config, "enable_bias", True)
        # OPT's learned positions carry an offset of 2 rows (transformers OPTLearnedPositionalEmbedding).
        learned_positions = max_ctx + 2
        proj_dim = config.get("word_embed_proj_dim", hidden)
        if proj_dim != hidden:
            assumptions.append("OPT word_embed_proj_dim != hidden_size: projection layers not counted")
        modules = (
            *_attention(("q_proj", "k_proj", "v_proj", "out_proj"), qkv_bias=bias, out_bias=bias, **attention_kwargs),
            LinearModule("fc1", hidden, inter, bias, "mlp"),
            LinearModule("fc2", inter, hidden, bias, "mlp"),
        )
    elif model_type in {"mixtral", "qwen2_moe", "qwen3_moe", "olmoe"}:
        num_experts = _positive_int(config, "num_local_experts", _get(config, "num_experts", None))
        experts_per_token = _positive_int(config, "num_experts_per_tok")
        if experts_per_token > num_experts:
            raise InvalidInputError(
                "architecture.num_experts_per_tok",
                f"must not exceed the number of experts ({num_experts}), got {experts_per_token}",
            )
        tie = _flag(config, "tie_word_embeddings", False)
        expert_inter = _positive_int(config, "moe_intermediate_size", inter)
        if model_type == "qwen2_moe":
            qkv_bias = _flag(config, "qkv_bias", True)
        else:
            qkv_bias = model_type != "mixtral" and _flag(config, "attention_bias", False)
        if model_type == "mixtral":
            expert_modules: tuple[LinearModule, ...] = (
                LinearModule("w1", hidden, expert_inter, False, "mlp", num_experts),
                LinearModule("w2", expert_inter, hidden, False, "mlp", num_experts),
                LinearModule("w3", hidden, expert_inter, False, "mlp", num_experts),
            )
        else:
            expert_modules = _gated_mlp(hidden, expert_inter, False, num_experts)
        modules = (
            *_attention(
                ("q_proj", "k_proj", "v_proj", "o_proj"), qkv_bias=qkv_bias, out_bias=False, **attention_kwargs
            ),
            LinearModule(
                "block_sparse_moe.gate" if model_type == "mixtral" else "mlp.gate", hidden, num_experts, False, "router"
            ),
            *expert_modules,
        )
        if model_type == "qwen2_moe":
            # Qwen2MoeSparseMoeBlock: a dense SwiGLU expert every token passes through, scaled by a sigmoid
            # gate (one output); both are nn.Linear, so they count in the active path.
            shared_inter = _positive_int(config, "shared_expert_intermediate_size", inter)
            modules = (
                *modules,
                LinearModule("shared_expert.gate_proj", hidden, shared_inter, False, "mlp"),
                LinearModule("shared_expert.up_proj", hidden, shared_inter, False, "mlp"),
                LinearModule("shared_expert.down_proj", shared_inter, hidden, False, "mlp"),
                LinearModule("shared_expert_gate", hidden, 1, False, "router"),
            )
        if model_type in {"qwen2_moe", "qwen3_moe"}:
            step = config.get("decoder_sparse_step", 1)
            if step not in (None, 1) or config.get("mlp_only_layers"):
                assumptions.append(f"{model_type} dense (mlp_only / sparse-step) layers counted as MoE layers")
    else:
        known_llama_like = {
            "llama",
            "mistral",
            "qwen2",
            "qwen3",
            "gemma",
            "gemma2",
            "olmo",
            "olmo2",
            "starcoder2",
            "granite",
            "cohere",
            "stablelm",
            "internlm2",
            "deepseek",
            "yi",
            "baichuan",
        }
        if model_type not in known_llama_like:
            assumptions.append(f"model_type {model_type!r} not in the catalog's layouts: read as a Llama-style block")
        qkv_bias = model_type == "qwen2" or _flag(config, "attention_bias", False)
        out_bias = _flag(config, "attention_bias", False) and model_type != "qwen2"
        mlp_bias = _flag(config, "mlp_bias", False)
        if model_type in {"gemma", "gemma2"}:
            tie = _flag(config, "tie_word_embeddings", True)
        else:
            tie = _flag(config, "tie_word_embeddings", False)
        if model_type == "gemma2":
            norms_per_layer = 4  # input, post-attention, pre- and post-feed-forward RMSNorms
        if model_type == "olmo":
            norm = "nonparametric"  # OLMo-1: LayerNorm without weight or bias (OlmoLayerNorm)
        if model_type == "qwen3":
            assumptions.append("qwen3 q/k norms counted as per-head RMSNorm weights")
        modules = (
            *_attention(
                ("q_proj", "k_proj", "v_proj", "o_proj"), qkv_bias=qkv_bias, out_bias=out_bias, **attention_kwargs
            ),
            *_gated_mlp(hidden, inter, mlp_bias),
        )

    if "tie_word_embeddings" not in config:
        assumptions.append(f"tie_word_embeddings missing: {model_type} default {tie} assumed")

    return Architecture(
        model_type=model_type,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        tie_word_embeddings=tie,
        max_position_embeddings=max_ctx,
        norm=norm,
        norm_bias=norm_bias,
        norms_per_layer=norms_per_layer,
        learned_position_embeddings=learned_positions,
        lm_head_bias=lm_head_bias,
        num_experts=num_experts,
        num_experts_per_token=experts_per_token,
        linear_modules=modules,
        hidden_act=hidden_act,
        assumptions=tuple(assumptions),
        hf_config=dict(config),
    )


def count_parameters(arch: Architecture) -> ParameterCount:
    """Exact parameter count of a decoder from its module inventory.

    Notes
    -----
    total = V·h (embeddings) + P·h (learned positions) + L·(attention + MLP + norms) + final norm
    + lm_head (V·h unless tied, + V when biased). For MoE, expert matrices count ``n_experts`` times
    in the total and ``num_experts_per_token`` times in ``active_params`` (Mixtral's 46.7B / 12.9B).
    Our own bookkeeping, checked against the published count of every catalog model (tests).
    """
    attention = sum(m.params for m in arch.linear_modules if m.kind == "attention")
    qk_norm = 0
    if arch.model_type in {"qwen3", "qwen3_moe"}:
        qk_norm = 2 * arch.head_dim  # per-head RMSNorm weights (Qwen3Attention.q_norm/k_norm over head_dim)
    elif arch.model_type in {"olmo2", "olmoe"}:
        # full-width RMSNorms over the q and k projections' outputs (Olmo2Attention, OlmoeAttention)
        qk_norm = (arch.num_attention_heads + arch.num_key_value_heads) * arch.head_dim
    attention += qk_norm
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
