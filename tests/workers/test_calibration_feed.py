"""Measured GPU steps become cost-model calibration rows, and /v1/cost uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storage.db import session_scope
from storage.models import RunRow
from storage.settings import Settings
from tests.factories import tiny_llama_config
from workers.hardware import catalog_gpu_id
from workers.routing import calibration_row


@pytest.mark.parametrize(
    ("name", "memory_gib", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", 80, "H100-SXM"),
        ("NVIDIA H100 PCIe", 80, "H100-PCIe"),
        ("NVIDIA H200", 141, "H200"),
        ("NVIDIA A100-SXM4-40GB", 40, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 80, "A100-80GB"),
        ("NVIDIA L40S", 48, "L40S"),
        ("NVIDIA L4", 24, "L4"),
        ("NVIDIA A10G", 24, "A10G"),
        ("NVIDIA GeForce RTX 4090", 24, "RTX-4090"),
        ("Tesla T4", 16, "T4"),
        ("NVIDIA B200", 180, None),
    ],
)
def test_catalog_gpu_id(name: str, memory_gib: int, expected: str | None) -> None:
    assert catalog_gpu_id(name, memory_gib * 2**30) == expected


def _candidate(tmp_path: Path) -> dict[str, Any]:
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(tiny_llama_config()))
    return {
        "model": {"id": "tiny", "path": str(model_dir)},
        "method": {"name": "lora", "rank": 4},
        "training": {"micro_batch_size": 4, "seq_len": 64, "gradient_accumulation_steps": 2},
    }


def test_calibration_row_from_a_cuda_step(tmp_path: Path) -> None:
    row = calibration_row(
        _candidate(tmp_path), device="cuda", device_name="NVIDIA H200", memory_bytes=141 * 2**30, step_time_s=0.2
    )
    assert row is not None
    assert row["family"] == "lora" and row["gpu"] == "H200"
    assert row["measured_s"] == pytest.approx(0.1)  # per micro-step: two accumulation steps
    assert row["ideal_compute_s"] > 0 and row["kernel_launches"] > 0


def test_cpu_steps_do_not_calibrate_gpus(tmp_path: Path) -> None:
    assert (
        calibration_row(_candidate(tmp_path), device="cpu", device_name="x86_64", memory_bytes=2**34, step_time_s=0.2)
        is None
    )


def test_measured_runs_refit_the_cost_model_step_time(client: TestClient, settings: Settings) -> None:
    body = {
        "candidates": [{"model": "llama-3.1-8b", "method": {"name": "lora", "rank": 16}, "hardware": {"gpu": "H200"}}]
    }
    before = client.post("/v1/cost", json=body).json()["results"][0]
    slower = 3.0 * before["step_time_s"]
    with session_scope(settings.database_url) as session:
        for i in range(3):
            session.add(
                RunRow(
                    kind="finetune",
                    status="succeeded",
                    candidate={},
                    progress={},
                    result={
                        "calibration_row": {
                            "family": "lora",
                            "gpu": "H200",
                            "ideal_compute_s": before["ideal_compute_s"] * (1 + i),
                            "ideal_memory_s": before["ideal_memory_s"] * (1 + i),
                            "kernel_launches": before["kernel_launches"],
                            "measured_s": slower * (1 + i),
                        }
                    },
                )
            )
        session.commit()
    after = client.post("/v1/cost", json=body).json()["results"][0]
    assert after["step_time_s"] > 2 * before["step_time_s"]
    assert after["train_usd"] > 2 * before["train_usd"]


@pytest.mark.parametrize(
    "config",
    [
        {
            "model_type": "qwen2",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 256,
            "max_position_embeddings": 128,
            "tie_word_embeddings": True,
        },
        {
            "model_type": "gemma2",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "vocab_size": 256,
            "max_position_embeddings": 128,
        },
        {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 256, "n_positions": 128},
    ],
)
def test_ln_tuning_trains_exactly_the_norms_the_registry_counts(config: dict[str, Any]) -> None:
    transformers = pytest.importorskip("transformers")
    from predictors.architecture import architecture_from_hf_config
    from predictors.methods import get_method, parse_method
    from workers.finetune import apply_method

    fields = {k: v for k, v in config.items() if k != "model_type"}
    model = transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(config["model_type"], **fields)
    )
    spec, method = get_method("ln_tuning"), parse_method({"name": "ln_tuning"})
    apply_method(model, spec.worker_plan(method), method_name="ln_tuning")
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trained == spec.trainable_params(architecture_from_hf_config(config), method)
