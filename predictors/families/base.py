"""What a model family module declares, and the config readers and block builders families share.

A family turns the family-specific fields of a Hugging Face ``config.json`` into a :class:`Layout` (the
module inventory transformers builds, its norms and positions) and states the facts the cost model and the
methods read from :class:`~predictors.architecture.Architecture` instead of ``model_type`` strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from predictors.errors import InvalidInputError

__all__ = [
    "LLAMA_IA3_FEEDFORWARD",
    "LLAMA_IA3_TARGETS",
    "LLAMA_MLP_OUTPUTS",
    "Family",
    "Layout",
    "LinearModule",
    "NormKind",
    "Shape",
    "attention",
    "config_value",
    "flag",
    "gated_mlp",
    "positive_int",
    "routed_block",
    "routed_experts",
]

NormKind = Literal["rmsnorm", "layernorm", "nonparametric"]

LLAMA_IA3_TARGETS: tuple[str, ...] = ("k_proj", "v_proj", "down_proj")
"""peft's IA3 default for Llama-style blocks: keys, values and the feed-forward output projection."""
LLAMA_IA3_FEEDFORWARD: tuple[str, ...] = ("down_proj",)
LLAMA_MLP_OUTPUTS: tuple[str, ...] = ("down_proj",)
"""The feed-forward output projection(s) of a Llama-style block (the cost model's MLP-output role)."""

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
    ``experts_per_token`` times per token). ``is_nn_linear`` is False for a router that transformers >= 5
    builds as its own module holding a 2-D weight (peft cannot wrap it as an ``nn.Linear``).
    """

    name: str
    in_features: int
    out_features: int
    bias: bool
    kind: Literal["attention", "mlp", "router"]
    n_experts: int = 1
    is_nn_linear: bool = True

    @property
    def params(self) -> int:
        """Parameters of one copy (one expert): weight plus optional bias."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True, slots=True)
class Shape:
    """The family-independent sizes, read before the family's builder runs."""

    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int


@dataclass(frozen=True, slots=True)
class Layout:
    """What a family's builder reads from the config: the block's modules, norms, positions and experts.

    ``qk_norm_params_per_layer`` counts norms over the query and key projections (Qwen3, OLMo-2);
    ``parallel_blocks`` marks attention and MLP reading the same block input (GPT-NeoX, Phi, Falcon).
    """

    linear_modules: tuple[LinearModule, ...]
    norm: NormKind = "rmsnorm"
    norm_bias: bool = False
    norms_per_layer: int = 2
    learned_position_embeddings: int = 0
    lm_head_bias: bool = False
    num_experts: int = 1
    num_experts_per_token: int = 1
    qk_norm_params_per_layer: int = 0
    parallel_blocks: bool = False
    assumptions: tuple[str, ...] = ()


Builder = Callable[[Mapping[str, Any], Shape], Layout]
KeyValueHeads = Callable[[Mapping[str, Any], int], int]


def _key_value_heads(config: Mapping[str, Any], heads: int) -> int:
    return positive_int(config, "num_key_value_heads", heads)


@dataclass(frozen=True, slots=True)
class Family:
    """A registered model family: the ``model_type`` values it reads and how.

    ``tie_word_embeddings`` is the transformers default when the config omits it;
    ``default_intermediate_factor`` (GPT-2-style configs) fills a missing ``intermediate_size`` as that many
    times ``hidden_size``, otherwise the field is required. ``known_layout`` False means the builder is an
    approximation (the architecture records the assumption). Adapter defaults are peft's
    (``TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING``); ``fused_expert_pair`` names the routed gate and
    up projections transformers >= 5 fuses into one ``gate_up_proj`` parameter (peft adapts the pair as one);
    ``routed_experts_adaptable`` False where peft adapts neither routed experts nor router (no v4 -> v5
    conversion for the model type). ``mlp_output_modules`` names the feed-forward output projections (their
    input is the activation, their output the block's MLP output).
    """

    name: str
    model_types: tuple[str, ...]
    build: Builder
    tie_word_embeddings: bool = False
    default_intermediate_factor: int | None = None
    key_value_heads: KeyValueHeads = _key_value_heads
    ia3_target_modules: tuple[str, ...] = LLAMA_IA3_TARGETS
    ia3_feedforward_modules: tuple[str, ...] = LLAMA_IA3_FEEDFORWARD
    mlp_output_modules: tuple[str, ...] = LLAMA_MLP_OUTPUTS
    fused_expert_pair: tuple[str, str] | None = None
    routed_experts_adaptable: bool = True
    known_layout: bool = True


def config_value(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The first non-null value among the field's transformers aliases (``n_embd`` for ``hidden_size``)."""
    for alias in _FIELD_ALIASES.get(name, (name,)):
        value = config.get(alias)
        if value is not None:
            return value
    return default


def positive_int(config: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = config_value(config, name, default)
    if value is None:
        raise InvalidInputError(f"architecture.{name}", "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"architecture.{name}", f"must be a positive integer, got {value!r}")
    if value <= 0:
        raise InvalidInputError(f"architecture.{name}", f"must be a positive integer, got {value}")
    if value > 10**8:
        raise InvalidInputError(f"architecture.{name}", f"is implausibly large ({value}); at most 100000000")
    return value


def flag(config: Mapping[str, Any], name: str, default: bool) -> bool:
    value = config.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInputError(f"architecture.{name}", f"must be true or false, got {value!r}")
    return value


def attention(
    names: tuple[str, str, str, str] | tuple[str, str], shape: Shape, *, qkv_bias: bool, out_bias: bool
) -> tuple[LinearModule, ...]:
    """Attention projections: separate q/k/v/o (4 names) or fused qkv + o (2 names)."""
    hidden = shape.hidden_size
    q_out, kv_out = shape.num_attention_heads * shape.head_dim, shape.num_key_value_heads * shape.head_dim
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


def gated_mlp(hidden: int, inter: int, bias: bool, experts: int = 1, prefix: str = "") -> tuple[LinearModule, ...]:
    """SwiGLU feed-forward: gate and up projections to ``inter``, down back to ``hidden``."""
    return (
        LinearModule(f"{prefix}gate_proj", hidden, inter, bias, "mlp", experts),
        LinearModule(f"{prefix}up_proj", hidden, inter, bias, "mlp", experts),
        LinearModule(f"{prefix}down_proj", inter, hidden, bias, "mlp", experts),
    )


def routed_experts(config: Mapping[str, Any], shape: Shape) -> tuple[int, int, int]:
    """(experts, experts routed per token, expert intermediate size) of a sparse MoE block."""
    num_experts = positive_int(config, "num_local_experts", config_value(config, "num_experts", None))
    experts_per_token = positive_int(config, "num_experts_per_tok")
    if experts_per_token > num_experts:
        raise InvalidInputError(
            "architecture.num_experts_per_tok",
            f"must not exceed the number of experts ({num_experts}), got {experts_per_token}",
        )
    return num_experts, experts_per_token, positive_int(config, "moe_intermediate_size", shape.intermediate_size)


def routed_block(
    shape: Shape, *, qkv_bias: bool, router: str, experts: tuple[LinearModule, ...]
) -> tuple[LinearModule, ...]:
    """q/k/v/o attention, the router (a custom module in transformers >= 5) and the routed ``experts``."""
    return (
        *attention(("q_proj", "k_proj", "v_proj", "o_proj"), shape, qkv_bias=qkv_bias, out_bias=False),
        LinearModule(router, shape.hidden_size, experts[0].n_experts, False, "router", is_nn_linear=False),
        *experts,
    )
