"""The cost entry point: contract fields, validation errors naming the field, and physical invariances."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from predictors.architecture import architecture_from_hf_config
from predictors.cost import (
    CostCandidate,
    EvaluationConfig,
    HardwareRequest,
    HardwareSpec,
    TrainingConfig,
    cost_reduction_ratio,
    estimate_cost,
    estimate_costs,
    hardware_spec_from_catalog,
    parse_candidate,
    prediction_cost_usd,
    total_cost_usd,
)
from predictors.cost.money import api_finetune_usd
from predictors.errors import InvalidInputError
from predictors.methods import parse_method
from tests.factories import llama_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOG = json.loads((REPO_ROOT / "storage" / "catalogs" / "hardware.json").read_text())["hardware"]
HARDWARE: dict[str, HardwareSpec] = {row["id"]: hardware_spec_from_catalog(row) for row in CATALOG}
LLAMA_7B = architecture_from_hf_config(llama_config())
LLAMA_70B = architecture_from_hf_config(
    llama_config(
        hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8
    )
)
GPT2 = architecture_from_hf_config(
    {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}
)
CONTRACT = [
    "total_params",
    "trainable_params",
    "tokens_per_step",
    "train_flops_per_step",
    "peak_memory_bytes",
    "memory_breakdown",
    "fits",
    "max_micro_batch_that_fits",
    "step_time_s",
    "tokens_per_s",
    "train_gpu_hours",
    "train_usd",
    "inference_flops_per_query",
    "inference_usd_per_1k_queries",
    "assumptions",
]


def make(
    method: dict[str, Any] | str = "lora",
    *,
    arch: Any = LLAMA_7B,
    gpu: str = "H200",
    count: int = 1,
    evaluation: dict[str, Any] | None = None,
    **training: Any,
) -> CostCandidate:
    return CostCandidate(
        architecture=arch,
        model_id="m",
        method=parse_method(method),
        training=TrainingConfig(**training),
        hardware=HardwareRequest(gpu=gpu, count=count),
        evaluation=EvaluationConfig(**(evaluation or {})),
    )


def cost(*args: Any, **kwargs: Any) -> Any:
    return estimate_cost(make(*args, **kwargs), hardware=HARDWARE)


@pytest.mark.parametrize(
    "method",
    [
        "full",
        "lora",
        "qlora",
        "dora",
        "ia3",
        "prompt_tuning",
        "prefix_tuning",
        "ln_tuning",
        "linear_probe",
        "top_k_layers",
        "zero_shot",
        "icl",
        "rag_icl",
        "api_finetune",
    ],
)
def test_every_method_returns_the_contract_fields(method: str) -> None:
    est = cost(method, train_examples=2000)
    data = est.model_dump()
    for name in CONTRACT:
        assert name in data
    assert set(data["memory_breakdown"]) == {
        "weights",
        "gradients",
        "optimizer",
        "activations",
        "logits",
        "kv_cache",
        "overhead",
    }
    assert sum(data["memory_breakdown"].values()) == pytest.approx(est.peak_memory_bytes, abs=8)
    assert est.total_usd == pytest.approx(total_cost_usd(est.train_usd, est.eval_usd))
    assert est.inference_flops_per_query > 0


def test_bitfit_needs_biases_and_counts_them_on_gpt2() -> None:
    with pytest.raises(InvalidInputError) as err:
        cost("bitfit")
    assert err.value.field == "method.name"
    assert cost("bitfit", arch=GPT2).trainable_params > 0


def test_unknown_gpu_names_the_indexed_field() -> None:
    candidates = [make("lora"), make("lora", gpu="Z100")]
    with pytest.raises(InvalidInputError) as err:
        estimate_costs(candidates, hardware=HARDWARE)
    assert err.value.field == "candidates[1].hardware.gpu"
    assert "Z100" in err.value.message


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"micro_batch_size": 0}, "candidates[3].training.micro_batch_size"),
        ({"seq_len": -5}, "candidates[3].training.seq_len"),
        ({"precision": "fp8"}, "candidates[3].training.precision"),
    ],
)
def test_parse_candidate_rejects_bad_sizes_naming_the_field(training: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_candidate(
            {"method": {"name": "lora"}, "training": training, "hardware": {"gpu": "H200"}},
            architecture=LLAMA_7B,
            model_id="m",
            field="candidates[3]",
        )
    assert err.value.field == field


def test_parse_candidate_unknown_method_and_zero_gpus() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_candidate(
            {"method": {"name": "magic"}, "hardware": {"gpu": "H200"}},
            architecture=LLAMA_7B,
            model_id="m",
            field="candidates[0]",
        )
    assert err.value.field == "candidates[0].method.name"
    with pytest.raises(InvalidInputError) as err:
        parse_candidate(
            {"method": "lora", "hardware": {"gpu": "H200", "count": 0}},
            architecture=LLAMA_7B,
            model_id="m",
            field="candidates[0]",
        )
    assert err.value.field == "candidates[0].hardware.count"


def test_qlora_and_nf4_need_cuda() -> None:
    with pytest.raises(InvalidInputError) as err:
        cost("qlora", gpu="CPU")
    assert err.value.field == "method.name" and "CUDA" in err.value.message
    with pytest.raises(InvalidInputError) as err:
        cost("lora", gpu="CPU", precision="nf4")
    assert err.value.field == "training.precision"
    with pytest.raises(InvalidInputError):
        cost("full", precision="nf4")


def test_qlora_needs_less_memory_than_lora() -> None:
    lora, qlora = cost("lora"), cost("qlora")
    assert qlora.memory_breakdown.weights < 0.35 * lora.memory_breakdown.weights
    assert qlora.peak_memory_bytes < lora.peak_memory_bytes


def test_lora_rank_and_targets_change_memory_and_flops() -> None:
    small = cost({"name": "lora", "rank": 8})
    big = cost({"name": "lora", "rank": 64, "target_modules": "all-linear"})
    assert big.trainable_params > small.trainable_params
    assert big.peak_memory_bytes > small.peak_memory_bytes
    assert big.train_flops_per_step > small.train_flops_per_step


def test_flop_ordering_full_lora_top_k() -> None:
    full, lora, top2 = cost("full"), cost("lora"), cost({"name": "top_k_layers", "layers": 2})
    assert lora.train_flops_per_step == pytest.approx(full.train_flops_per_step * 2 / 3, rel=0.05)
    assert top2.train_flops_per_step < lora.train_flops_per_step


def test_checkpointing_trades_memory_for_one_forward() -> None:
    plain, ckpt = cost("lora", micro_batch_size=16), cost("lora", micro_batch_size=16, gradient_checkpointing=True)
    assert ckpt.memory_breakdown.activations < plain.memory_breakdown.activations / 5
    # one more forward of the blocks (≈ 2N of the ≈ 4N + attention a frozen-base step costs), minus the
    # trailing down_proj that non-reentrant checkpointing does not recompute
    assert 1.25 < ckpt.train_flops_per_step / plain.train_flops_per_step < 1.5


def test_eager_attention_keeps_the_score_matrix() -> None:
    sdpa, eager = cost("lora", seq_len=2048), cost("lora", seq_len=2048, attention="eager")
    assert eager.memory_breakdown.activations > 1.5 * sdpa.memory_breakdown.activations


def test_70b_full_finetune_does_not_fit_one_gpu_but_zero3_shards_it() -> None:
    one = cost("full", arch=LLAMA_70B, gpu="H100-SXM", precision="bf16-mixed")
    assert not one.fits and one.max_micro_batch_that_fits == 0
    kw: dict[str, Any] = {
        "arch": LLAMA_70B,
        "gpu": "H100-SXM",
        "count": 64,
        "precision": "bf16-mixed",
        "micro_batch_size": 1,
        "gradient_checkpointing": True,
    }
    ddp, zero1, zero3 = (cost("full", sharding=s, **kw) for s in ("ddp", "zero1", "zero3"))
    assert zero3.peak_memory_bytes < zero1.peak_memory_bytes < ddp.peak_memory_bytes
    assert zero3.fits


def test_max_micro_batch_that_fits_is_the_boundary() -> None:
    est = cost("lora", micro_batch_size=4, gpu="A100-40GB")
    b = est.max_micro_batch_that_fits
    assert b > 4
    assert cost("lora", micro_batch_size=b, gpu="A100-40GB").fits
    assert not cost("lora", micro_batch_size=b + 2, gpu="A100-40GB").fits


def test_optimizers_and_precisions() -> None:
    adam, adam8, sgd = (cost("full", optimizer=o, precision="bf16-mixed") for o in ("adamw", "adamw_8bit", "sgd"))
    n = adam.trainable_params
    assert adam.memory_breakdown.optimizer == pytest.approx(8 * n, rel=1e-6)
    assert adam8.memory_breakdown.optimizer == pytest.approx(2 * n, rel=1e-6)
    assert sgd.memory_breakdown.optimizer == pytest.approx(4 * n, rel=1e-6)
    pure = cost("full", precision="bf16")
    assert pure.memory_breakdown.optimizer == pytest.approx(4 * n, rel=1e-6)


def test_icl_inference_cost_grows_linearly_with_shots() -> None:
    flops = [
        cost({"name": "icl", "shots": k, "demonstration_tokens": 100}).inference_flops_per_query for k in (1, 2, 4, 8)
    ]
    steps = [b - a for a, b in itertools.pairwise(flops)]
    assert flops == sorted(flops)
    per_shot = [step / d for step, d in zip(steps, (1, 2, 4), strict=True)]
    assert per_shot[0] == pytest.approx(per_shot[-1], rel=0.05)
    zero = cost("zero_shot")
    assert zero.train_usd == 0 and zero.total_usd == pytest.approx(zero.eval_usd)


def test_gpu_hours_and_usd_follow_steps_and_price() -> None:
    est = cost("lora", train_examples=10_000, epochs=2)
    assert est.train_steps == 10_000 * 2 * 512 // (8 * 512)
    assert est.train_gpu_hours == pytest.approx(est.train_steps * est.step_time_s / 3600)
    assert est.train_usd == pytest.approx(est.train_gpu_hours * HARDWARE["H200"].usd_per_hour)


def test_api_finetune_priced_per_token() -> None:
    est = cost(
        {"name": "api_finetune", "provider": "openai", "provider_model": "gpt-4o-2024-08-06"},
        dataset_tokens=1_000_000,
        epochs=3,
    )
    assert est.train_usd == pytest.approx(3 * 25.0)
    assert (
        api_finetune_usd(provider="together", total_params=8_000_000_000, train_tokens=1e6, epochs=1, adapter="lora")
        == 5.0
    )  # minimum


def test_cosmos_prediction_cost_and_reduction_ratio() -> None:
    assert prediction_cost_usd(proxy_usd=0.5, overhead_usd=0.2, validation_usd=0.3) == pytest.approx(1.0)
    assert cost_reduction_ratio(13.305, 0.67) == pytest.approx((13.305 - 0.67) / 13.305)
    with pytest.raises(InvalidInputError):
        cost_reduction_ratio(0, 1)


def test_hardware_spec_from_catalog_rejects_bad_rows() -> None:
    with pytest.raises(InvalidInputError) as err:
        hardware_spec_from_catalog({"id": "X", "memory_bytes": 0, "peak_fp32_tflops": 1, "hbm_gbps": 1})
    assert err.value.field == "hardware.memory_bytes"
    assert HARDWARE["T4"].peak_flops_per_s("bf16") == pytest.approx(65e12)


def test_a_methods_own_assumptions_reach_the_estimate() -> None:
    """LoRA all-linear on Qwen2-MoE: peft leaves the routed experts alone, and the estimate says so."""
    qwen2_moe = architecture_from_hf_config(
        {
            "model_type": "qwen2_moe",
            "hidden_size": 64,
            "intermediate_size": 128,
            "moe_intermediate_size": 32,
            "shared_expert_intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 256,
            "num_experts": 4,
            "num_experts_per_tok": 2,
        }
    )
    estimate = cost({"name": "lora", "rank": 8, "target_modules": "all-linear"}, arch=qwen2_moe, seq_len=64)
    assert any("routed experts" in a for a in estimate.assumptions), estimate.assumptions
    dense = cost({"name": "lora", "rank": 8, "target_modules": "all-linear"}, seq_len=64)
    assert not any("routed experts" in a for a in dense.assumptions)
