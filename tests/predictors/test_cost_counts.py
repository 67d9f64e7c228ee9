"""predictors/cost/counts.py: the decoder linear parameters against real transformers models on the meta
device, and the memo keyed by the Architecture value (equal architectures share an entry, a changed one
is counted afresh)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from predictors.architecture import architecture_from_hf_config, count_parameters  # noqa: E402
from predictors.cost.counts import (  # noqa: E402
    decoder_linear_params,
    decoder_matmul_flops_per_token,
    parameter_counts,
)
from tests.predictors.test_cost_params_flops import CONFIGS  # noqa: E402

MIXTRAL: dict[str, Any] = dict(
    model_type="mixtral",
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    num_local_experts=4,
    num_experts_per_tok=2,
    vocab_size=1000,
    max_position_embeddings=512,
)
FAMILIES = {**CONFIGS, "mixtral": MIXTRAL}


def _decoder_non_norm_params(config: dict[str, Any]) -> int:
    """Every parameter inside the decoder blocks except the norms' (linear weights, biases, experts, router)."""
    hf_config = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    blocks = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList))
    norm_params = sum(
        p.numel() for m in blocks.modules() if "norm" in type(m).__name__.lower() for p in m.parameters(recurse=False)
    )
    return sum(p.numel() for p in blocks.parameters()) - norm_params


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_decoder_linear_params_are_the_blocks_parameters_but_the_norms(family: str) -> None:
    arch = architecture_from_hf_config(FAMILIES[family])
    assert decoder_linear_params(arch) == _decoder_non_norm_params(FAMILIES[family])


def test_equal_architectures_share_one_entry_and_a_changed_one_is_counted_afresh() -> None:
    first = architecture_from_hf_config(CONFIGS["llama"])
    second = architecture_from_hf_config(CONFIGS["llama"])
    assert first is not second and first == second
    assert parameter_counts(first) is parameter_counts(second)
    deeper = dataclasses.replace(first, num_hidden_layers=first.num_hidden_layers + 1)
    assert decoder_linear_params(deeper) * first.num_hidden_layers == (
        decoder_linear_params(first) * deeper.num_hidden_layers
    )
    assert parameter_counts(deeper) == count_parameters(deeper) != parameter_counts(first)


def test_matmul_flops_per_token_count_only_the_routed_experts() -> None:
    dense = architecture_from_hf_config({**MIXTRAL, "num_experts_per_tok": 4})
    sparse = architecture_from_hf_config(MIXTRAL)
    expert_flops = sum(
        2.0 * m.in_features * m.out_features * m.n_experts for m in dense.linear_modules if m.n_experts > 1
    )
    # half the experts per token: half of every expert matmul, the rest unchanged
    per_layer_difference = expert_flops / 2
    assert decoder_matmul_flops_per_token(dense) - decoder_matmul_flops_per_token(sparse) == pytest.approx(
        dense.num_hidden_layers * per_layer_difference
    )
