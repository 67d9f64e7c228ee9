"""Mixture-of-experts parameters, FLOPs and memory of the cost model against real transformers + peft models.

transformers >= 5 stores the experts of Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE as 3-D parameters
(``mlp.experts.gate_up_proj``, ``mlp.experts.down_proj``) and the router as a bare weight. Routing reads
the data (``nonzero`` over the expert mask), so these models cannot run on the meta device: they are
built tiny on the CPU with random weights and ``experts_implementation="eager"``, whose per-expert
``F.linear`` calls ``FlopCounterMode`` counts (the default ``grouped_mm`` has no flop formula). Which
expert a token goes to depends on the data, but every token goes to exactly ``top_k`` experts, so the
total expert FLOPs of a forward are fixed: ``tokens x top_k x`` one expert's matmuls.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from predictors.architecture import architecture_from_hf_config, count_parameters  # noqa: E402
from predictors.cost import forward_flops, trace_training_pass, training_memory  # noqa: E402
from predictors.errors import InvalidInputError  # noqa: E402
from predictors.methods import get_method, parse_method  # noqa: E402

_DENSE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=256,
    tie_word_embeddings=False,
    max_position_embeddings=256,
    bos_token_id=1,
    eos_token_id=2,
)
MOE_CONFIGS: dict[str, dict[str, Any]] = {
    "mixtral": _DENSE | dict(model_type="mixtral", num_local_experts=4, num_experts_per_tok=2),
    # shared expert wider than a routed one, as in Qwen1.5-MoE-A2.7B (5632 vs 1408)
    "qwen2_moe": _DENSE
    | dict(
        model_type="qwen2_moe",
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=48,
        shared_expert_intermediate_size=96,
    ),
    "qwen3_moe": _DENSE | dict(model_type="qwen3_moe", num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48),
    "olmoe": _DENSE | dict(model_type="olmoe", num_experts=4, num_experts_per_tok=2),
}
BATCH, SEQ = 2, 32


def _build(family: str, method: dict[str, Any] | None = None, *, seed: int = 0) -> Any:
    config = transformers.AutoConfig.for_model(**MOE_CONFIGS[family])
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="eager", experts_implementation="eager"
    )
    if method is not None and method["name"] == "lora":
        model = peft.get_peft_model(model, peft.LoraConfig(r=method["rank"], target_modules=method["target_modules"]))
    return model


def _experts(model: Any) -> list[Any]:
    return [m for m in model.modules() if type(m).__name__.endswith("Experts")]


def _ids(seed: int = 0) -> Any:
    return torch.randint(0, 256, (BATCH, SEQ), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", list(MOE_CONFIGS))
def test_total_and_active_params_match_the_instantiated_model(family: str) -> None:
    model = _build(family)
    counts = count_parameters(architecture_from_hf_config(MOE_CONFIGS[family]))
    total = sum(p.numel() for p in model.parameters())
    experts = _experts(model)
    assert len(experts) == MOE_CONFIGS[family]["num_hidden_layers"]
    n, k = experts[0].num_experts, MOE_CONFIGS[family]["num_experts_per_tok"]
    # a token's path skips the n - k experts it is not routed to: their share of every expert stack
    skipped = sum(sum(p.numel() for p in e.parameters()) * (n - k) // n for e in experts)
    assert counts.total_params == total
    assert counts.active_params == total - skipped


@pytest.mark.parametrize("family", ["olmoe", "qwen3_moe"])
def test_qk_norm_params_counted(family: str) -> None:
    """OLMoE normalises the full q and k projections (hidden + kv width), Qwen3-MoE each head (head_dim)."""
    model = _build(family)
    norms = sum(p.numel() for n, p in model.named_parameters() if ".q_norm." in n or ".k_norm." in n)
    layers = MOE_CONFIGS[family]["num_hidden_layers"]
    expected = {"olmoe": layers * (64 + 2 * 16), "qwen3_moe": layers * 2 * 16}[family]
    assert norms == expected
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    assert count_parameters(arch).attention_params_per_layer * layers == norms + layers * sum(
        m.params for m in arch.linear_modules if m.kind == "attention"
    )


def test_olmo2_full_width_qk_norms_counted() -> None:
    config = _DENSE | {"model_type": "olmo2"}
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    assert count_parameters(architecture_from_hf_config(config)).total_params == sum(
        p.numel() for p in model.parameters()
    )


@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe"])
def test_routed_expert_flops_are_tokens_times_top_k_whatever_the_routing(family: str) -> None:
    """Per-expert token counts change with the data; their sum, and so the expert FLOPs, do not."""
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    k = arch.num_experts_per_token
    one_token = sum(2 * m.in_features * m.out_features for m in arch.linear_modules if m.n_experts > 1)
    expected = arch.num_hidden_layers * BATCH * SEQ * k * one_token
    per_expert: list[list[int]] = []
    for seed in (0, 1):
        model = _build(family, seed=seed).eval()
        routed: list[int] = []
        hooks = [
            e.register_forward_pre_hook(
                lambda _m, args, sink=routed: sink.extend(torch.bincount(args[1].flatten()).tolist())
            )
            for e in _experts(model)
        ]
        counter = FlopCounterMode(display=False, depth=None)
        with torch.no_grad(), counter:
            model(input_ids=_ids(seed))
        for hook in hooks:
            hook.remove()
        assert sum(routed) == arch.num_hidden_layers * BATCH * SEQ * k
        expert_flops = sum(
            sum(ops.values()) for name, ops in counter.get_flop_counts().items() if name.endswith("mlp.experts")
        )
        assert expert_flops == expected
        per_expert.append(routed)
    assert per_expert[0] != per_expert[1]  # routing did move tokens between experts


LORA_QV = {"name": "lora", "rank": 4, "target_modules": ["q_proj", "v_proj"]}
LORA_ALL = {"name": "lora", "rank": 4, "target_modules": "all-linear"}
TRAIN_CASES = [(f, m) for f in MOE_CONFIGS for m in ({"name": "full"}, LORA_QV, LORA_ALL)]


@pytest.mark.parametrize(
    ("family", "method"), TRAIN_CASES, ids=[f"{f}-{m['name']}-{m.get('target_modules', '')}" for f, m in TRAIN_CASES]
)
def test_training_flops_match_flop_counter(family: str, method: dict[str, Any]) -> None:
    """Full fine-tuning and LoRA; ``all-linear`` adapts the experts through peft's ParamWrapper.

    peft >= 0.18 maps ``all-linear`` on Mixtral, Qwen3-MoE and OLMoE (transformers 5) to the v4 modules: the
    router and every expert's gate/up (fused, rank 2r) and down projections, as weight deltas W + B·A. On
    Qwen2-MoE peft 0.21 adapts attention and the shared expert only (plain nn.Linear adapters).
    """
    model = _build(family, method).train()
    ids = _ids()
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=ids, labels=ids).loss.backward()
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    config = parse_method(method)
    terms = get_method(config.name).cost_terms(arch, config)  # type: ignore[misc]
    ours = trace_training_pass(
        arch, terms, batch=BATCH, seq_len=SEQ, precision="fp32", attention="eager", gradient_checkpointing=False
    ).train_flops
    assert ours == pytest.approx(counter.get_total_flops(), rel=0.02)


@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe"])
@pytest.mark.parametrize("method", [{"name": "full"}, LORA_QV], ids=["full", "lora-qv"])
def test_trainable_params_match_peft(family: str, method: dict[str, Any]) -> None:
    model = _build(family, method)
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    config = parse_method(method)
    assert get_method(config.name).trainable_params(arch, config) == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )


MOE_TARGETS: list[Any] = [
    "all-linear",
    ["gate_proj", "up_proj", "down_proj"],
    ["w1", "w2", "w3"],
    ["w1", "w3"],
    ["gate"],
    ["down_proj"],
    ["experts.gate_proj", "experts.up_proj"],
    ["shared_expert_gate"],
]
PARAM_CASES = [(f, t) for f in MOE_CONFIGS for t in MOE_TARGETS]


def _peft_trainable(family: str, target_modules: Any, *, use_dora: bool = False) -> int | None:
    """Trainable parameters of the peft model, or None where peft refuses the config."""
    config = transformers.AutoConfig.for_model(**MOE_CONFIGS[family])
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="eager", experts_implementation="eager"
    )
    try:
        model = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=target_modules, use_dora=use_dora))
    except ValueError:  # NoMatchingPeftModuleError, an unsupported module, half a fused pair, DoRA on ParamWrapper
        return None
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _our_trainable(family: str, method: dict[str, Any]) -> int | None:
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    config = parse_method(method)
    try:
        return get_method(config.name).trainable_params(arch, config)
    except InvalidInputError:
        return None


@pytest.mark.parametrize("family", list(MOE_CONFIGS))
def test_all_linear_trainable_params_match_peft(family: str) -> None:
    """Fused rank-2r gate/up adapters on Mixtral/Qwen3-MoE/OLMoE; attention + shared expert only on Qwen2-MoE."""
    model = _build(family, LORA_ALL)
    assert _our_trainable(family, LORA_ALL) == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("family", "targets"), PARAM_CASES, ids=[f"{f}-{'+'.join(t) if isinstance(t, list) else t}" for f, t in PARAM_CASES]
)
@pytest.mark.parametrize("name", ["lora", "dora"])
def test_explicit_expert_targets_match_peft(family: str, targets: Any, name: str) -> None:
    """Counts equal peft's, and where peft refuses the config (None) we refuse it too."""
    method = {"name": name, "rank": 4, "target_modules": targets}
    assert _our_trainable(family, method) == _peft_trainable(family, targets, use_dora=name == "dora")


def test_qwen2_moe_all_linear_records_the_unadapted_experts() -> None:
    arch = architecture_from_hf_config(MOE_CONFIGS["qwen2_moe"])
    for name in ("lora", "dora", "qlora"):
        config = parse_method(LORA_ALL | {"name": name})
        terms = get_method(name).cost_terms(arch, config)  # type: ignore[misc]
        assert any("qwen2_moe" in a and "routed experts" in a for a in terms.assumptions)
        assert {n for n, _ in terms.adapter_ranks} == {m.name for m in arch.linear_modules if m.n_experts == 1} - {
            "mlp.gate"
        }
    qv = get_method("lora").cost_terms(arch, parse_method(LORA_QV))  # type: ignore[misc]
    assert qv.assumptions == ()


@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe", "olmoe"])
def test_prefill_flops_match_flop_counter(family: str) -> None:
    model = _build(family).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(input_ids=_ids(), use_cache=False)
    arch = architecture_from_hf_config(MOE_CONFIGS[family])
    ours = forward_flops(arch, batch=BATCH, s_q=SEQ, s_k=SEQ, logit_tokens=BATCH * SEQ)
    assert ours == pytest.approx(counter.get_total_flops(), rel=0.02)


def _memory(config: dict[str, Any], method: dict[str, Any]) -> Any:
    arch = architecture_from_hf_config(config)
    counts = count_parameters(arch)
    parsed = parse_method(method)
    spec = get_method(parsed.name)
    terms = spec.cost_terms(arch, parsed)  # type: ignore[misc]
    trainable = spec.trainable_params(arch, parsed)
    model_pass = trace_training_pass(
        arch, terms, batch=4, seq_len=512, precision="bf16", attention="sdpa", gradient_checkpointing=False
    )
    return counts, training_memory(
        arch,
        counts,
        terms,
        model_pass,
        precision="bf16",
        optimizer="adamw",
        gradient_checkpointing=False,
        batch=4,
        trainable_params=trainable,
        added_params=trainable if terms.adapter_params_are_new else 0,
        n_gpus=1,
        sharding="none",
    )


@pytest.mark.parametrize("method", [{"name": "full"}, LORA_QV], ids=["full", "lora-qv"])
def test_memory_weights_hold_every_expert_activations_only_the_routed_ones(method: dict[str, Any]) -> None:
    """Weights: all experts are resident. Activations: a token only touches its top-k experts."""
    four = MOE_CONFIGS["mixtral"]
    sixteen = four | {"num_local_experts": 16}
    counts4, mem4 = _memory(four, method)
    counts16, mem16 = _memory(sixteen, method)
    assert counts16.active_params == counts4.active_params + 2 * 12 * 64  # only the router grows (h x 12 more)
    if method["name"] == "full":
        assert mem4.weights == pytest.approx(2.0 * counts4.total_params)
        assert mem16.weights == pytest.approx(2.0 * counts16.total_params)
    else:
        adapters = get_method("lora").trainable_params(architecture_from_hf_config(four), parse_method(method))
        # frozen bf16 base, fp32 adapters and their bf16 autocast copies kept for backward
        assert mem4.weights == pytest.approx(2.0 * counts4.total_params + (4.0 + 2.0) * adapters)
    assert mem4.activations == pytest.approx(mem16.activations, rel=0.01)
    _, mem_top4 = _memory(sixteen | {"num_experts_per_tok": 4}, method)
    assert mem_top4.activations > 1.2 * mem16.activations
