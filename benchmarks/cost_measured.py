"""Shared by the cost benchmarks and tests: the measured H200 runs as cost-model candidates.

Reads ``../shared/data/gpu_cost/h200_finetune_cost.csv`` (never copied into the repo).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from predictors.architecture import architecture_from_hf_config
from predictors.cost import (
    CalibrationRow,
    CostCandidate,
    EfficiencyCalibration,
    EvaluationConfig,
    HardwareRequest,
    HardwareSpec,
    TrainingConfig,
    estimate_cost,
)
from predictors.cost.calibration import method_family
from predictors.cost.estimate import roofline_training_step
from predictors.methods import parse_method

REPO_ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = REPO_ROOT.parent / "shared" / "data" / "gpu_cost" / "h200_finetune_cost.csv"
CALIBRATION_PATH = REPO_ROOT / "predictors" / "cost" / "default_calibration.json"

# The probe's H200 (hardware.json row "H200"); price irrelevant for time and memory.
H200 = HardwareSpec(
    id="H200",
    memory_bytes=150754820096,
    peak_bf16_tflops=989.4,
    peak_fp16_tflops=989.4,
    peak_fp32_tflops=66.9,
    hbm_gbps=4800,
    usd_per_hour=3.79,
)
HARDWARE = {"H200": H200}

METHODS: dict[str, tuple[dict[str, Any], str]] = {
    "full": ({"name": "full"}, "bf16-mixed"),
    "lora_qv_r8": ({"name": "lora", "rank": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]}, "bf16"),
    "lora_all_r16": ({"name": "lora", "rank": 16, "alpha": 32, "target_modules": "all-linear"}, "bf16"),
    "top2_layers": ({"name": "top_k_layers", "layers": 2}, "bf16"),
    "infer": ({"name": "zero_shot"}, "bf16"),
    "generate": ({"name": "zero_shot"}, "bf16"),
}


def load_rows(path: Path = CSV_PATH) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def candidate(row: dict[str, str]) -> CostCandidate:
    arch = architecture_from_hf_config(
        {
            "model_type": "llama",
            "hidden_size": int(row["hidden_size"]),
            "intermediate_size": int(row["intermediate_size"]),
            "num_hidden_layers": int(row["num_hidden_layers"]),
            "num_attention_heads": int(row["num_attention_heads"]),
            "vocab_size": int(row["vocab"]),
            "tie_word_embeddings": False,
            "max_position_embeddings": 2048,
        }
    )
    method, precision = METHODS[row["method"]]
    batch, seq = int(row["batch"]), int(row["seq"])
    return CostCandidate(
        architecture=arch,
        model_id=row["model"],
        method=parse_method(method),
        training=TrainingConfig(
            micro_batch_size=batch, seq_len=seq, gradient_checkpointing=row["grad_ckpt"] == "1", precision=precision
        ),  # type: ignore[arg-type]
        hardware=HardwareRequest(gpu="H200"),
        evaluation=EvaluationConfig(
            prompt_tokens=seq,
            output_tokens=64 if row["method"] == "generate" else 0,
            batch_size=batch,
            eval_queries=batch,
        ),
    )


def calibration_row(row: dict[str, str]) -> CalibrationRow:
    """The roofline terms of a measured row (training rows: one step; infer: one prefill; generate: 64 tokens)."""
    from predictors.architecture import count_parameters
    from predictors.cost.memory import training_memory
    from predictors.cost.passes import forward_flops, forward_kernel_launches, trace_training_pass
    from predictors.methods import get_method

    cand = candidate(row)
    arch = cand.architecture
    measured = float(row["step_s_median"])
    batch, seq = cand.training.micro_batch_size, cand.training.seq_len
    if row["method"] in {"infer", "generate"}:
        weights = count_parameters(arch).total_params * 2.0
        if row["method"] == "infer":
            flops = forward_flops(arch, batch=batch, s_q=seq, s_k=seq, logit_tokens=batch * seq)
            traffic = weights + batch * seq * arch.vocab_size * 2.0
            return CalibrationRow(
                "prefill",
                flops / H200.peak_flops_per_s("bf16"),
                traffic / H200.hbm_bytes_per_s,
                forward_kernel_launches(arch),
                measured,
            )
        flops = 64 * forward_flops(arch, batch=batch, s_q=1, s_k=seq + 32, logit_tokens=batch)
        traffic = 64 * weights
        prefill = forward_flops(arch, batch=batch, s_q=seq, s_k=seq, logit_tokens=batch)
        return CalibrationRow(
            "decode",
            (flops + prefill) / H200.peak_flops_per_s("bf16"),
            traffic / H200.hbm_bytes_per_s,
            65 * forward_kernel_launches(arch),
            measured,
        )
    spec = get_method(cand.method.name)
    assert spec.cost_terms is not None
    terms = spec.cost_terms(arch, cand.method)
    trainable = spec.trainable_params(arch, cand.method)
    precision = cand.training.precision
    model_pass = trace_training_pass(
        arch,
        terms,
        batch=batch,
        seq_len=seq,
        precision=precision,
        attention="sdpa",
        gradient_checkpointing=cand.training.gradient_checkpointing,
    )
    mem = training_memory(
        arch,
        count_parameters(arch),
        terms,
        model_pass,
        precision=precision,
        optimizer="adamw",
        gradient_checkpointing=cand.training.gradient_checkpointing,
        batch=batch,
        trainable_params=trainable,
        added_params=trainable if terms.adapter_params_are_new else 0,
        n_gpus=1,
        sharding="ddp",
    )
    roof = roofline_training_step(
        model_pass,
        weights_bytes=mem.weights,
        trainable_params=trainable,
        saved_bytes=mem.activations,
        logits_bytes=mem.logits,
        hardware=H200,
        precision=precision,
        gradient_checkpointing=cand.training.gradient_checkpointing,
    )
    return CalibrationRow(
        method_family(cand.method.name), roof.ideal_compute_s, roof.ideal_memory_s, model_pass.kernel_launches, measured
    )


def fit_calibration(rows: list[dict[str, str]]) -> EfficiencyCalibration:
    return EfficiencyCalibration().fit([calibration_row(r) for r in rows if r["method"] in METHODS and r["oom"] != "1"])


def predicted(row: dict[str, str], calibration: EfficiencyCalibration) -> tuple[float, float, bool]:
    """(allocated bytes, step seconds, fits) the cost model predicts for a measured row."""
    cand = candidate(row)
    est = estimate_cost(cand, hardware=HARDWARE, calibration=calibration)
    if row["method"] in {"infer", "generate"}:
        from predictors.architecture import count_parameters
        from predictors.cost.memory import inference_memory

        mem = inference_memory(
            cand.architecture,
            weights_bytes=2.0 * count_parameters(cand.architecture).total_params,
            batch=cand.training.micro_batch_size,
            prompt_tokens=cand.training.seq_len,
            output_tokens=64 if row["method"] == "generate" else 0,
            all_logits=row["method"] == "infer",
        )
        return mem.allocated_bytes, float(calibration.predict([calibration_row(row)])[0]), est.fits
    return float(est.allocated_bytes), est.step_time_s, est.fits
