"""Parameter counts from the architecture equal real transformers models built on the meta device."""

from __future__ import annotations

from typing import Any

import pytest

from predictors.architecture import architecture_from_hf_config, count_parameters
from predictors.errors import InvalidInputError
from tests.factories import llama_config

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Two-layer versions of real configs: every per-family structural rule is exercised, the build stays small.
CASES: dict[str, dict[str, Any]] = {
    "llama-3 (GQA, untied)": llama_config(
        hidden_size=4096, intermediate_size=14336, num_key_value_heads=8, vocab_size=128256
    ),
    "gpt2 (Conv1D, biases, learned positions, tied)": {
        "model_type": "gpt2",
        "n_embd": 768,
        "n_layer": 2,
        "n_head": 12,
        "vocab_size": 50257,
        "n_positions": 1024,
    },
    "pythia (gpt_neox, untied)": {
        "model_type": "gpt_neox",
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "vocab_size": 50304,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
    },
    "qwen2.5 (qkv bias, tied)": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 2,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    "gemma-2 (4 norms, head_dim 256)": {
        "model_type": "gemma2",
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
    },
    "gemma (head_dim x heads != hidden)": {
        "model_type": "gemma",
        "hidden_size": 3072,
        "intermediate_size": 24576,
        "num_hidden_layers": 2,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
    },
    "phi-2 (parallel block, biased lm_head)": {
        "model_type": "phi",
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "num_hidden_layers": 2,
        "num_attention_heads": 32,
        "vocab_size": 51200,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
    },
    "phi-3 (fused qkv and gate_up)": {
        "model_type": "phi3",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 2,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32064,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    },
    "falcon-7b (multi-query, parallel)": {
        "model_type": "falcon",
        "hidden_size": 4544,
        "num_hidden_layers": 2,
        "num_attention_heads": 71,
        "vocab_size": 65024,
        "multi_query": True,
        "parallel_attn": True,
        "bias": False,
        "new_decoder_architecture": False,
    },
    "mixtral (MoE)": {
        "model_type": "mixtral",
        "hidden_size": 1024,
        "intermediate_size": 3584,
        "num_hidden_layers": 2,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    },
    "olmo-1 (non-parametric LayerNorm)": {
        "model_type": "olmo",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 2,
        "num_attention_heads": 32,
        "vocab_size": 50304,
        "tie_word_embeddings": False,
        "max_position_embeddings": 2048,
    },
    "mistral": {
        "model_type": "mistral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 2,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
    },
    "opt (learned positions + 2)": {
        "model_type": "opt",
        "hidden_size": 768,
        "ffn_dim": 3072,
        "num_hidden_layers": 2,
        "num_attention_heads": 12,
        "vocab_size": 50272,
        "max_position_embeddings": 2048,
        "word_embed_proj_dim": 768,
    },
}


def meta_model_params(config: dict[str, Any]) -> int:
    fields = dict(config)
    model_type = fields.pop("model_type")
    hf_config = transformers.AutoConfig.for_model(model_type, **fields)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(CASES))
def test_count_equals_transformers_meta_model(name: str) -> None:
    config = CASES[name]
    if name.startswith("llama-3"):
        config = {**config, "num_hidden_layers": 2}
    assert count_parameters(architecture_from_hf_config(config)).total_params == meta_model_params(config)


def test_mixtral_active_params_route_two_of_eight_experts() -> None:
    counts = count_parameters(architecture_from_hf_config(CASES["mixtral (MoE)"]))
    expert = 3 * 1024 * 3584
    assert counts.total_params - counts.active_params == 2 * 6 * expert


def test_llama_2_7b_published_count() -> None:
    assert count_parameters(architecture_from_hf_config(llama_config())).total_params == 6_738_415_616


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"hidden_size": 0}, "architecture.hidden_size", "positive integer"),
        (
            {"hidden_size": 4000, "num_attention_heads": 30, "num_key_value_heads": 30},
            "architecture.num_attention_heads",
            "must divide hidden_size",
        ),
        ({"num_key_value_heads": 5}, "architecture.num_key_value_heads", "must divide num_attention_heads"),
        ({"model_type": None}, "architecture.model_type", "is required"),
        ({"vocab_size": "32000"}, "architecture.vocab_size", "positive integer"),
        ({"tie_word_embeddings": "no"}, "architecture.tie_word_embeddings", "true or false"),
        ({"intermediate_size": None}, "architecture.intermediate_size", "is required"),
    ],
)
def test_impossible_shapes_name_the_field(patch: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as error:
        architecture_from_hf_config({**llama_config(), **patch})
    assert error.value.field == field


def test_mixtral_more_active_than_experts() -> None:
    config = {**CASES["mixtral (MoE)"], "num_experts_per_tok": 9}
    with pytest.raises(InvalidInputError) as error:
        architecture_from_hf_config(config)
    assert error.value.field == "architecture.num_experts_per_tok"


def test_unknown_model_type_is_read_as_llama_style_and_says_so() -> None:
    arch = architecture_from_hf_config(llama_config(model_type="brandnew"))
    assert any("brandnew" in note for note in arch.assumptions)
    assert count_parameters(arch).total_params == 6_738_415_616
