"""LoRA: low-rank adapters on selected linear layers.

References
----------
Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685, Sec. 4
(ΔW = B·A with B ∈ R^{d_out×r}, A ∈ R^{r×d_in}: r·(d_in + d_out) parameters per adapted matrix).

Mixture-of-experts models follow what the installed peft (0.21) builds on transformers 5 (checked against
``peft.get_peft_model`` on tiny models in ``tests/predictors/test_cost_moe.py``):

* Mixtral, Qwen3-MoE, OLMoE: the router and the routed experts are adapted as parameters
  (``lora.ParamWrapper``); the expert gate and up projections, fused into ``gate_up_proj``, share one adapter of
  rank 2r (E·2r·(h + 2·i) parameters per layer, not E·2r·(h + i)); targeting only one of them is an error, as
  in peft, and so is DoRA on any of them.
* Qwen2-MoE: peft's behaviour for ``qwen2_moe`` in the installed version is to adapt only the attention
  projections and the shared expert (its gate included); the routed experts and the router are not adapted,
  whatever ``target_modules`` says (``"all-linear"`` included), and naming the router (``gate``) is an error.
  The cost terms record this in ``assumptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.methods.base import (
    CostTerms,
    LinearTargetsConfig,
    MethodSpec,
    is_parameter_wrapped,
    match_target_modules,
)
from predictors.methods.registry import register_method

__all__ = [
    "LoraAdapter",
    "LoraConfig",
    "lora_cost_terms",
    "lora_trainable_params",
    "lora_worker_plan",
    "peft_lora_adapters",
    "resolve_targets",
    "target_assumptions",
]


class LoraConfig(LinearTargetsConfig):
    """LoRA parameters, with peft's names and defaults where they exist."""

    name: Literal["lora"] = "lora"
    rank: int = Field(16, ge=1, le=4096, description="Adapter rank r.")
    alpha: float = Field(32.0, gt=0, le=1e6, description="Scaling numerator: ΔW is scaled by alpha / rank.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")


# --- MoE experts and routers as the installed peft adapts them ------------------------------------------------------
#
# transformers >= 5 stores the routed experts of Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE as 3-D parameters
# (``mlp.experts.gate_up_proj``, ``mlp.experts.down_proj``) and the router as a custom module, none of them an
# ``nn.Linear``. peft (0.18+, checked against 0.21.2) rewrites a LoRA config for the model types that transformers
# gives a v4 -> v5 conversion pattern (``peft.utils.transformers_weight_conversion._convert_peft_config_moe``): the v4
# names (``w1``/``w3``/``w2``/``gate`` for Mixtral, ``gate_proj``/``up_proj``/``down_proj``/``gate`` for the
# Qwen-MoE layout) become ``target_parameters`` adapted by ``lora.ParamWrapper``, and gate + up, fused into
# ``gate_up_proj``, get one adapter of rank 2r (``rank_pattern``) over both outputs:
# E·2r·(h + 2·i) parameters instead of two rank-r adapters' E·2r·(h + i). Targeting only one of the pair is refused.
# Qwen2-MoE itself has no conversion pattern, so peft adapts neither its routed experts nor its router there.
# The family modules declare both facts (``Architecture.fused_expert_pair``, ``routed_experts_adaptable``).
QWEN2_MOE_ASSUMPTION = (
    "qwen2_moe LoRA: peft (0.21, transformers 5) adapts attention and the shared expert only; the routed experts "
    "and the router are left frozen (no v4->v5 target conversion for this model type)"
)


@dataclass(frozen=True, slots=True)
class LoraAdapter:
    """One adapter peft builds in every decoder layer: B·A over ``modules`` (one or a fused gate/up pair).

    ``rank`` is per expert (2r for a fused gate/up pair); ``n_experts`` copies when the adapter sits on a 3-D expert
    parameter (``lora.ParamWrapper``). Parameters: ``rank · (in_features + out_features) · n_experts``.
    """

    modules: tuple[LinearModule, ...]
    in_features: int
    out_features: int
    rank: int
    n_experts: int
    parameter_wrapped: bool

    @property
    def params(self) -> int:
        return self.rank * (self.in_features + self.out_features) * self.n_experts


def _peft_v4_name_matches(module: LinearModule, target: str) -> bool:
    """peft's v4 -> v5 remap: a target maps to a routed module when it is its leaf name or ends with ``.leaf``."""
    leaf = module.name.rsplit(".", 1)[-1]
    return target == leaf or target.endswith("." + leaf)


def _select(arch: Architecture, targets: list[str] | str) -> tuple[list[LinearModule], list[str]]:
    """(modules peft adapts, assumptions) for ``targets``; InvalidInputError where peft refuses the config."""
    modules = match_target_modules(arch, targets)
    if not arch.is_moe:
        return modules, []
    all_linear = isinstance(targets, str)
    if not arch.routed_experts_adaptable:
        routed = [m for m in modules if is_parameter_wrapped(m)]
        if not all_linear and any(m.kind == "router" for m in routed):
            raise InvalidInputError(
                "method.target_modules",
                f"the {arch.model_type} router ('mlp.gate') is not an nn.Linear in transformers >= 5 and peft "
                "refuses to adapt it; leave 'gate' out",
            )
        return [m for m in modules if not is_parameter_wrapped(m)], ([QWEN2_MOE_ASSUMPTION] if routed else [])
    pair = arch.fused_expert_pair
    if pair is None:
        return modules, []
    if not all_linear:
        wanted = [targets] if isinstance(targets, str) else list(targets)
        chosen = {m.name for m in modules}
        modules = [
            m
            for m in arch.linear_modules
            if m.name in chosen or (is_parameter_wrapped(m) and any(_peft_v4_name_matches(m, t) for t in wanted))
        ]
    hit = [name for name in pair if any(m.name == name and m.n_experts > 1 for m in modules)]
    if len(hit) == 1:
        missing = next(name for name in pair if name not in hit)
        raise InvalidInputError(
            "method.target_modules",
            f"{hit[0]!r} and {missing!r} are fused into one gate_up_proj parameter in transformers >= 5; peft "
            "adapts both or neither, so target both",
        )
    return modules, []


def peft_lora_adapters(arch: Architecture, config: Any) -> list[LoraAdapter]:
    """The adapters peft builds per decoder layer for ``config.target_modules`` (the fused gate/up pair as one)."""
    modules = resolve_targets(arch, config)
    rank = int(config.rank)
    pair = arch.fused_expert_pair or ("", "")
    fused = [m for m in modules if m.n_experts > 1 and m.name in pair]
    adapters = [
        LoraAdapter((m,), m.in_features, m.out_features, rank, m.n_experts, is_parameter_wrapped(m))
        for m in modules
        if m not in fused
    ]
    if fused:
        first = fused[0]
        adapters.append(
            LoraAdapter(
                tuple(fused),
                first.in_features,
                sum(m.out_features for m in fused),
                rank * len(fused),
                first.n_experts,
                True,
            )
        )
    return adapters


def resolve_targets(arch: Architecture, config: Any, *, field: str = "method.target_modules") -> list[LinearModule]:
    """The modules peft adapts for ``config.target_modules``; an error naming the field when none match.

    Dense models: peft's suffix match over our module inventory. MoE models on transformers >= 5: see the notes
    above (fused gate/up experts; Qwen2-MoE's routed experts and router never adapted).
    """
    modules, _ = _select(arch, config.target_modules)
    if not modules:
        available = ", ".join(
            m.name for m in arch.linear_modules if arch.routed_experts_adaptable or not is_parameter_wrapped(m)
        )
        raise InvalidInputError(
            field,
            f"{config.target_modules!r} matches no linear layer of a {arch.model_type} model; it has: {available}",
        )
    return modules


def target_assumptions(arch: Architecture, config: Any) -> tuple[str, ...]:
    """What the target resolution assumed about peft (non-empty only where it drops modules a name matched)."""
    return tuple(_select(arch, config.target_modules)[1])


def lora_trainable_params(arch: Architecture, config: Any) -> int:
    """Σ over adapted matrices of r·(d_in + d_out), per layer and per expert (Hu et al. 2021).

    A fused MoE gate/up pair is one rank-2r adapter over both outputs, as peft builds it on ``gate_up_proj``.
    """
    return int(arch.num_hidden_layers * sum(a.params for a in peft_lora_adapters(arch, config)))


def lora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Adapters B·A on each targeted module: 2·r·(d_in + d_out) extra forward FLOPs per token each.

    Ranks are per module name, from the adapters peft builds: each half of a fused expert gate/up pair
    carries the pair's 2r (its B·A is 2r wide over both outputs: the FLOPs of two rank-2r adapters).
    """
    ranks = tuple((m.name, a.rank) for a in peft_lora_adapters(arch, config) for m in a.modules)
    return CostTerms(adapter_ranks=ranks, assumptions=target_assumptions(arch, config))


def lora_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "LoraConfig",
        "peft_kwargs": {
            "r": config.rank,
            "lora_alpha": config.alpha,
            "lora_dropout": config.dropout,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="lora",
        config_cls=LoraConfig,
        kind="finetune",
        summary="Low-rank adapters on chosen linear layers; base weights frozen.",
        reference="Hu et al. 2021, arXiv:2106.09685",
        trainable_params=lora_trainable_params,
        worker_plan=lora_worker_plan,
        cost_terms=lora_cost_terms,
        calibration_family="lora",
        times_unmeasured=True,
        examples=({"rank": 8}, {"rank": 64, "target_modules": "all-linear"}),
    )
)
