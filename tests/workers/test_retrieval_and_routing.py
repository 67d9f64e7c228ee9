"""BM25 demonstration retrieval, queue routing and the predicted memory used for it, the GPU check script."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from predictors.architecture import architecture_from_hf_config
from tests.factories import llama_config, tiny_llama_config
from workers.retrieval import Bm25, tokenize
from workers.routing import CPU_QUEUE_MAX_BYTES, choose_queue, fallback_prediction, predict_run_cost

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bm25_ranks_the_document_sharing_rare_terms_first() -> None:
    documents = ["the cat sat on the mat", "the dog barked", "a cat and a dog", "the the the the"]
    index = Bm25(documents)
    assert index.top_k("cat mat", 2) == [0, 2]
    assert index.top_k("dog", 2) == [1, 2]
    assert index.top_k("dog", 1, exclude=1) == [2]
    # Hand-computed score of document 1 for "dog" (Robertson and Zaragoza 2009, Eq. 3.15, k1=1.5, b=0.75):
    idf = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))
    mean_length = (6 + 3 + 5 + 4) / 4
    expected = idf * 1 * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 3 / mean_length))
    assert index.scores("dog")[1] == pytest.approx(expected)
    assert tokenize("Hello, World!") == ["hello", "world"]


def test_bm25_excludes_and_breaks_ties_by_index() -> None:
    index = Bm25(["x", "x", "x"])
    assert index.top_k("x", 3) == [0, 1, 2]
    assert index.top_k("x", 3, exclude=0) == [1, 2]


@pytest.mark.parametrize(
    ("kind", "peak", "queue"),
    [
        ("finetune", 1, "gpu"),
        ("icl_probe", 1, "cpu"),
        ("proxy_probe", None, "cpu"),
        ("icl_probe", CPU_QUEUE_MAX_BYTES + 1, "gpu"),
    ],
)
def test_choose_queue_by_kind_and_predicted_memory(kind: str, peak: int | None, queue: str) -> None:
    assert choose_queue(kind, {"peak_memory_bytes": peak}) == queue


def candidate(config: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": {"id": "m", "architecture": config},
        "method": method,
        "training": {"micro_batch_size": 1, "seq_len": 128, "precision": "bf16"},
    }


def test_fallback_memory_counts_weights_grads_and_adam_of_trainable_params() -> None:
    config = llama_config()  # Llama-2-7B: 6,738,415,616 parameters
    arch = architecture_from_hf_config(config)
    full = fallback_prediction(candidate(config, {"name": "full"}), arch, "finetune")
    lora = fallback_prediction(candidate(config, {"name": "lora", "rank": 8}), arch, "finetune")
    total = 6_738_415_616
    assert full["total_params"] == total and full["trainable_params"] == total
    # bf16 weights + bf16 grads + fp32 AdamW moments = 12 bytes per parameter, plus activations and logits.
    assert 12 * total < full["peak_memory_bytes"] < 12 * total + 2**30
    assert lora["trainable_params"] == 4_194_304
    assert 2 * total < lora["peak_memory_bytes"] < 2 * total + 2**30
    assert "fallback" in full["source"]


def test_predict_run_cost_reads_the_config_of_a_local_model_dir(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(tiny_llama_config()))
    predicted = predict_run_cost(
        {"model": {"id": "tiny", "path": str(tmp_path)}, "method": {"name": "lora"}}, "finetune"
    )
    assert predicted["peak_memory_bytes"] > 0 and predicted["source"]
    unknown = predict_run_cost(
        {"model": {"id": "x", "path": str(tmp_path / "missing")}, "method": {"name": "lora"}}, "finetune"
    )
    assert unknown["peak_memory_bytes"] is None and unknown["source"].startswith("unknown")


@pytest.mark.timeout(120)
def test_gpu_check_script_runs_in_cpu_smoke_mode(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--cpu-smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(r["model"], r["method"]) for r in rows] == [
        ("tiny-a", "full"),
        ("tiny-a", "lora"),
        ("tiny-b", "full"),
        ("tiny-b", "lora"),
    ]
    for row in rows:
        assert row["measured"]["fits"] and row["measured"]["step_time_s"] > 0
        assert row["fallback"]["peak_memory_bytes"] > 0
    assert "meas GiB" in completed.stdout


def test_a_probe_is_priced_by_the_cost_model_as_the_forward_passes_it_runs() -> None:
    from predictors.cost import CostCandidate, EvaluationConfig, TrainingConfig, estimate_cost
    from predictors.methods import parse_method, prompting_method_name
    from workers.routing import DEFAULT_GPU, _shipped_hardware

    config = llama_config()
    for method in ({"name": "lora", "rank": 8}, {"name": "icl", "shots": 4}):
        predicted = predict_run_cost(candidate(config, method), "proxy_probe")
        priced_as = method if method["name"] == "icl" else {"name": prompting_method_name(0, "")}  # trains nothing
        expected = estimate_cost(
            CostCandidate(
                architecture=architecture_from_hf_config(config),
                model_id="m",
                method=parse_method(priced_as),
                training=TrainingConfig(micro_batch_size=1, seq_len=128, precision="bf16"),
                evaluation=EvaluationConfig(prompt_tokens=128, batch_size=1),
            ),
            hardware=_shipped_hardware(),
        )
        assert predicted["source"].startswith("predictors.cost") and predicted["gpu"] == DEFAULT_GPU
        assert predicted["peak_memory_bytes"] == expected.peak_memory_bytes and predicted["step_time_s"] is None


def test_runs_are_priced_on_the_database_s_hardware(client: Any, settings: Any) -> None:
    """``PUT /v1/hardware`` edits reach routing: half the compute and bandwidth, a slower predicted step."""
    from storage.db import session_scope
    from workers.routing import database_hardware

    run = candidate(llama_config(), {"name": "lora"}) | {"hardware": {"gpu": "L4", "count": 1}}
    with session_scope(settings.database_url) as session:
        shipped = predict_run_cost(run, "finetune", hardware=database_hardware(session=session, candidate=run))
    l4 = client.get("/v1/hardware/L4").json()
    slower = {k: l4[k] / 2 for k in ("peak_bf16_tflops", "peak_fp16_tflops", "peak_fp32_tflops", "hbm_gbps")}
    assert client.put("/v1/hardware/L4", json=slower).status_code == 200
    with session_scope(settings.database_url) as session:
        hardware = database_hardware(session=session, candidate=run)
        edited = predict_run_cost(run, "finetune", hardware=hardware)
    assert hardware["L4"].hbm_gbps == slower["hbm_gbps"]
    assert edited["source"] == shipped["source"] == "predictors.cost"
    assert edited["step_time_s"] > shipped["step_time_s"]
    assert edited["peak_memory_bytes"] == shipped["peak_memory_bytes"]  # memory is the model's, not the GPU's
