"""Attention backward FLOPs per attention setting, against ``torch.utils.flop_counter.FlopCounterMode``.

FlopCounterMode counts a fused attention kernel (``_scaled_dot_product_efficient_attention``,
``_scaled_dot_product_flash_attention``, ``_flash_attention_forward``) as 2 products forward and 5
backward (it recomputes ``Q·Kᵀ``): 2.5x its forward. Eager/math attention is two ``bmm`` forward and
four backward: 2x. Those fused operators only run on CUDA; on the CPU ``attn_implementation="sdpa"``
dispatches to ``_scaled_dot_product_flash_attention_for_cpu`` (not counted at all) and on the meta device
to the math decomposition (counted as eager). So the fused case calls the efficient-attention operator
itself on the meta device, through a registered transformers attention function: the counter then sees
exactly the operators a CUDA SDPA run dispatches.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from predictors.architecture import architecture_from_hf_config  # noqa: E402
from predictors.cost import trace_training_pass  # noqa: E402
from predictors.methods import get_method, parse_method  # noqa: E402
from tests.predictors.test_cost_params_flops import CONFIGS  # noqa: E402

_FUSED = "tunecast_counted_efficient_sdpa"
# long enough that attention is ~40 % of the step: a wrong backward factor moves the total by > 2 %
LLAMA = CONFIGS["llama"] | {
    "hidden_size": 128,
    "intermediate_size": 344,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
SEQ = 512


def _efficient_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, None]:
    """What SDPA's memory-efficient CUDA backend runs, callable on the meta device (causal, no mask tensor)."""
    groups = query.shape[1] // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    out = torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, None, True, 0.0, True, scale=scaling
    )[0]
    return out.transpose(1, 2).contiguous(), None


transformers.AttentionInterface.register(_FUSED, _efficient_attention)


def _counted_step(attention: str, method: dict[str, Any]) -> float:
    config = transformers.AutoConfig.for_model(**LLAMA)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            config, attn_implementation=_FUSED if attention != "eager" else "eager"
        )
    if method["name"] == "lora":
        model = peft.get_peft_model(model, peft.LoraConfig(r=method["rank"], target_modules=method["target_modules"]))
    model.train()
    ids = torch.zeros((1, SEQ), dtype=torch.long, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=ids, labels=ids).loss.backward()
    return float(counter.get_total_flops())


def _ours(attention: str, method: dict[str, Any]) -> float:
    arch = architecture_from_hf_config(LLAMA)
    config = parse_method(method)
    terms = get_method(config.name).cost_terms(arch, config)  # type: ignore[misc]
    return trace_training_pass(
        arch, terms, batch=1, seq_len=SEQ, precision="bf16", attention=attention, gradient_checkpointing=False
    ).train_flops


def test_fused_attention_backward_is_two_and_a_half_forwards() -> None:
    q = torch.empty((1, 4, SEQ, 32), device="meta", requires_grad=True)
    k = torch.empty((1, 4, SEQ, 32), device="meta", requires_grad=True)
    v = torch.empty((1, 4, SEQ, 32), device="meta", requires_grad=True)
    counter = FlopCounterMode(display=False)
    with counter:
        out = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, True)[0]
    forward = counter.get_total_flops()
    with counter:
        out.sum().backward()
    backward = counter.get_total_flops()
    one_product = 2 * 1 * 4 * SEQ * SEQ * 32
    assert forward == 2 * one_product
    assert backward == 5 * one_product


METHODS = [{"name": "full"}, {"name": "lora", "rank": 8, "target_modules": ["q_proj", "v_proj"]}]


@pytest.mark.parametrize("attention", ["eager", "sdpa", "flash"])
@pytest.mark.parametrize("method", METHODS, ids=["full", "lora-qv"])
def test_training_flops_per_attention_setting_match_flop_counter(attention: str, method: dict[str, Any]) -> None:
    counted = _counted_step(attention, method)
    assert _ours(attention, method) == pytest.approx(counted, rel=0.02)


def test_attention_setting_changes_the_step_by_the_backward_recompute() -> None:
    """The fused/eager difference is one extra ``Q·Kᵀ`` per layer in backward, in ours and in the counter."""
    full = {"name": "full"}
    arch = architecture_from_hf_config(LLAMA)
    one_product = 2.0 * arch.num_attention_heads * SEQ * SEQ * arch.head_dim * arch.num_hidden_layers
    ours = _ours("sdpa", full) - _ours("eager", full)
    counted = _counted_step("sdpa", full) - _counted_step("eager", full)
    assert ours == pytest.approx(one_product)
    assert counted == pytest.approx(one_product)
