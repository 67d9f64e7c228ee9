"""Parameters and FLOPs of the cost model against real transformers + peft models on the meta device.

Known answers come from the models themselves: ``sum(p.numel())`` and
``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward (eager attention, so the
counter sees the two attention products as ``bmm``; our ``attention="eager"`` counts the same).
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from predictors.architecture import architecture_from_hf_config, count_parameters  # noqa: E402
from predictors.cost import trace_training_pass  # noqa: E402
from predictors.methods import get_method, parse_method  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "llama": dict(
        model_type="llama",
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=8,
        vocab_size=1000,
        tie_word_embeddings=False,
        max_position_embeddings=512,
    ),
    "qwen2": dict(
        model_type="qwen2",
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=1000,
        tie_word_embeddings=True,
        max_position_embeddings=512,
    ),
    "mistral": dict(
        model_type="mistral",
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=1000,
        tie_word_embeddings=False,
        max_position_embeddings=512,
    ),
    "gemma": dict(
        model_type="gemma",
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=128,
        vocab_size=1000,
        max_position_embeddings=512,
    ),
    "gpt2": dict(model_type="gpt2", n_embd=256, n_layer=3, n_head=8, vocab_size=1000, n_positions=512),
    # Pythia shape: parallel attention + MLP residual, biases everywhere, partial rotary
    "gpt_neox": dict(
        model_type="gpt_neox",
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=3,
        num_attention_heads=8,
        vocab_size=1000,
        max_position_embeddings=512,
        rotary_pct=0.25,
        tie_word_embeddings=False,
    ),
}


def _qv(family: str) -> list[str]:
    return {"gpt2": ["c_attn"], "gpt_neox": ["query_key_value"]}.get(family, ["q_proj", "v_proj"])


def _methods(family: str) -> list[dict[str, Any]]:
    methods: list[dict[str, Any]] = [
        {"name": "full"},
        {"name": "lora", "rank": 8, "target_modules": _qv(family)},
        {"name": "lora", "rank": 16, "target_modules": "all-linear"},
        {"name": "dora", "rank": 8, "target_modules": _qv(family)},
        {"name": "top_k_layers", "layers": 1},
        {"name": "prompt_tuning", "num_virtual_tokens": 10},
        {"name": "prefix_tuning", "num_virtual_tokens": 10},
        {"name": "ia3"},
    ]
    if family not in {
        "qwen2",
        "gpt_neox",
    }:  # peft's LN-tuning defaults: qwen2 post-attention norms only; none for gpt_neox
        methods.append({"name": "ln_tuning"})
    if family in {"gpt2", "gpt_neox"}:
        methods.append({"name": "bitfit"})
    return methods


CASES = [(family, method) for family in CONFIGS for method in _methods(family)]


def _build(family: str, method: dict[str, Any]) -> Any:
    config = transformers.AutoConfig.for_model(**CONFIGS[family])
    config._attn_implementation = "eager"
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    name = method["name"]
    if name in {"lora", "dora"}:
        model = peft.get_peft_model(
            model, peft.LoraConfig(r=method["rank"], target_modules=method["target_modules"], use_dora=name == "dora")
        )
    elif name == "prompt_tuning":
        model = peft.get_peft_model(model, peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=10))
    elif name == "prefix_tuning":
        model = peft.get_peft_model(model, peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=10))
    elif name == "ia3":
        model = peft.get_peft_model(model, peft.IA3Config(task_type="CAUSAL_LM"))
    elif name == "ln_tuning":
        model = peft.get_peft_model(model, peft.LNTuningConfig(task_type="CAUSAL_LM"))
    elif name == "top_k_layers":
        for p in model.parameters():
            p.requires_grad_(False)
        layers = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList))  # the decoder blocks
        for p in layers[-method["layers"] :].parameters():
            p.requires_grad_(True)
    elif name == "bitfit":
        for n, p in model.named_parameters():
            p.requires_grad_(n.endswith("bias"))
    return model


@pytest.mark.parametrize(
    ("family", "method"), CASES, ids=[f"{f}-{m['name']}-{m.get('target_modules', '')}" for f, m in CASES]
)
def test_params_and_training_flops_match_meta_models(family: str, method: dict[str, Any]) -> None:
    model = _build(family, method)
    arch = architecture_from_hf_config(CONFIGS[family])
    config = parse_method(method)
    spec = get_method(config.name)
    assert spec.cost_terms is not None
    terms = spec.cost_terms(arch, config)
    trainable = spec.trainable_params(arch, config)
    params = list(model.parameters())
    real_trainable = sum(p.numel() for p in params if p.requires_grad)
    real_total = sum(p.numel() for p in params)
    assert trainable == real_trainable
    base_total = count_parameters(arch).total_params
    if terms.adapter_params_are_new and config.name not in {"prompt_tuning", "prefix_tuning"}:
        assert real_total == base_total + trainable
    else:
        assert real_total in {base_total, base_total + trainable}
    ids = torch.zeros((2, 64), dtype=torch.long, device="meta")
    counter = FlopCounterMode(display=False)
    model.train()
    with counter:
        model(input_ids=ids, labels=ids).loss.backward()
    ours = trace_training_pass(
        arch, terms, batch=2, seq_len=64, precision="bf16", attention="eager", gradient_checkpointing=False
    ).train_flops
    assert ours == pytest.approx(counter.get_total_flops(), rel=0.02)


def test_full_finetune_is_about_6n_per_token() -> None:
    arch = architecture_from_hf_config(
        CONFIGS["llama"]
        | {
            "num_hidden_layers": 32,
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 32000,
        }
    )
    terms = get_method("full").cost_terms(arch, parse_method({"name": "full"}))  # type: ignore[misc]
    flops = trace_training_pass(
        arch, terms, batch=1, seq_len=512, precision="bf16", attention="eager", gradient_checkpointing=False
    ).train_flops
    n = count_parameters(arch).total_params - arch.vocab_size * arch.hidden_size  # embeddings do no matmul
    assert flops / (6 * n * 512) == pytest.approx(1.0, abs=0.05)


def test_checkpointing_adds_one_forward_of_the_blocks_on_a_real_tiny_model() -> None:
    config = transformers.AutoConfig.for_model(**(CONFIGS["llama"] | {"num_hidden_layers": 2}))
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = peft.get_peft_model(
        transformers.AutoModelForCausalLM.from_config(config), peft.LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
    )
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    ids = torch.zeros((1, 32), dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=ids, labels=ids).loss.backward()
    arch = architecture_from_hf_config(CONFIGS["llama"] | {"num_hidden_layers": 2})
    lora = parse_method({"name": "lora", "rank": 8, "target_modules": ["q_proj", "v_proj"]})
    terms = get_method("lora").cost_terms(arch, lora)  # type: ignore[misc]
    ours = trace_training_pass(
        arch, terms, batch=1, seq_len=32, precision="fp32", attention="eager", gradient_checkpointing=True
    )
    assert ours.recompute_flops > 0
    assert ours.train_flops == pytest.approx(counter.get_total_flops(), rel=0.02)


def test_prefix_tuning_projection_params_under_gqa_match_peft() -> None:
    config = transformers.AutoConfig.for_model(**CONFIGS["qwen2"])
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    model = peft.get_peft_model(
        model,
        peft.PrefixTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=10, prefix_projection=True, encoder_hidden_size=64
        ),
    )
    arch = architecture_from_hf_config(CONFIGS["qwen2"])
    cfg = parse_method(
        {"name": "prefix_tuning", "num_virtual_tokens": 10, "prefix_projection": True, "encoder_hidden_size": 64}
    )
    assert get_method("prefix_tuning").trainable_params(arch, cfg) == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )


def test_moe_total_and_active_params() -> None:
    mixtral = architecture_from_hf_config(
        dict(
            model_type="mixtral",
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=32000,
            num_local_experts=8,
            num_experts_per_tok=2,
            max_position_embeddings=32768,
            tie_word_embeddings=False,
        )
    )
    counts = count_parameters(mixtral)
    assert counts.total_params == 46_702_792_704  # Mixtral-8x7B published count
    assert 12.8e9 < counts.active_params < 13.0e9


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma", "gpt2"])
def test_prefill_and_decode_flops_match_flop_counter(family: str) -> None:
    from predictors.cost import forward_flops

    arch = architecture_from_hf_config(CONFIGS[family])
    config = transformers.AutoConfig.for_model(**CONFIGS[family])
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    ids = torch.zeros((2, 48), dtype=torch.long)
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(input_ids=ids, use_cache=True)
        prefill = counter.get_total_flops()
        counter = FlopCounterMode(display=False)
        with counter:
            model(input_ids=ids[:, :1], past_key_values=out.past_key_values, use_cache=True)
        decode = counter.get_total_flops()
    assert forward_flops(arch, batch=2, s_q=48, s_k=48, logit_tokens=96) == pytest.approx(prefill, rel=0.02)
    assert forward_flops(arch, batch=2, s_q=1, s_k=49, logit_tokens=2) == pytest.approx(decode, rel=0.02)


def test_nf4_storage_with_double_quantisation_known_answer() -> None:
    from predictors.cost import weight_bytes_per_param

    # QLoRA Sec. 3: 4 bits + 8/64 + 32/(64*256) bits of constants = 4.127 bits per parameter
    assert weight_bytes_per_param("nf4") * 8 == pytest.approx(4.127, abs=1e-3)
    assert weight_bytes_per_param("nf4", double_quant=False) * 8 == pytest.approx(4.5)
