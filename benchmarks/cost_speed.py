"""Speed of the cost model: 10,000 candidates through ``estimate_costs`` on one core.

    taskset -c 0 .venv/bin/python benchmarks/cost_speed.py

Baseline, timed in the same process on the same candidates: the naive calculator estimate (parameter
count × 16 bytes), i.e. one ``count_parameters`` call and a multiplication per candidate.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictors.architecture import architecture_from_hf_config, count_parameters
from predictors.cost import (
    CostCandidate,
    HardwareRequest,
    TrainingConfig,
    default_calibration,
    estimate_costs,
    hardware_spec_from_catalog,
)
from predictors.methods import parse_method

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CANDIDATES = 10_000


def candidates() -> list[CostCandidate]:
    shapes = [
        (2048, 5504, 24, 16, 16),
        (4096, 11008, 32, 32, 32),
        (4096, 14336, 32, 32, 8),
        (8192, 28672, 80, 64, 8),
        (3584, 18944, 28, 28, 4),
    ]
    archs = [
        architecture_from_hf_config(
            {
                "model_type": "llama",
                "hidden_size": h,
                "intermediate_size": i,
                "num_hidden_layers": n,
                "num_attention_heads": a,
                "num_key_value_heads": kv,
                "vocab_size": 128256,
                "tie_word_embeddings": False,
                "max_position_embeddings": 8192,
            }
        )
        for h, i, n, a, kv in shapes
    ]
    methods = [
        parse_method(m)
        for m in (
            {"name": "full"},
            {"name": "lora", "rank": 16},
            {"name": "lora", "rank": 64, "target_modules": "all-linear"},
            {"name": "qlora"},
            {"name": "dora"},
            {"name": "ia3"},
            {"name": "prompt_tuning"},
            {"name": "prefix_tuning"},
            {"name": "ln_tuning"},
            {"name": "top_k_layers", "layers": 4},
            {"name": "icl", "shots": 8},
            {"name": "zero_shot"},
        )
    ]
    trainings = [
        TrainingConfig(micro_batch_size=b, seq_len=s, gradient_checkpointing=g, precision=p, train_examples=10_000)
        for b, s, g, p in itertools.product((1, 4, 16), (512, 2048), (False, True), ("bf16", "bf16-mixed"))
    ]
    gpus = [HardwareRequest(gpu=g, count=c) for g, c in (("H100-SXM", 1), ("H200", 1), ("A100-80GB", 8), ("L40S", 1))]
    grid = itertools.cycle(itertools.product(archs, methods, trainings, gpus))
    out = []
    for arch, method, training, gpu in itertools.islice(grid, N_CANDIDATES):
        if method.name == "full" and training.precision == "bf16":
            training = training.model_copy(update={"precision": "bf16-mixed"})
        out.append(CostCandidate(architecture=arch, model_id="m", method=method, training=training, hardware=gpu))
    return out


def main() -> int:
    rows = json.loads((REPO_ROOT / "storage" / "catalogs" / "hardware.json").read_text())["hardware"]
    hardware = {row["id"]: hardware_spec_from_catalog(row) for row in rows}
    cands = candidates()
    calibration = default_calibration()
    estimate_costs(cands[:50], hardware=hardware, calibration=calibration)  # warm imports and caches
    t0 = time.process_time()
    naive = [count_parameters(c.architecture).total_params * 16 for c in cands]
    t_naive = time.process_time() - t0
    best = best_cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        results = estimate_costs(cands, hardware=hardware, calibration=calibration)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    assert len(results) == len(naive) == N_CANDIDATES
    # every candidate a distinct sequence length: no memoised trace can be reused (worst case)
    distinct = [
        c.__class__(
            architecture=c.architecture,
            model_id=c.model_id,
            method=c.method,
            training=c.training.model_copy(update={"seq_len": 256 + i}),
            hardware=c.hardware,
        )
        for i, c in enumerate(cands)
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    estimate_costs(distinct, hardware=hardware, calibration=calibration)
    t_distinct, cpu_distinct = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{N_CANDIDATES} candidates costed in {best:.3f} s wall, {best_cpu:.3f} s CPU (best of 3) "
        f"= {best / N_CANDIDATES * 1e6:.1f} us each"
    )
    print(
        f"worst case, every candidate a new shape (no memoised trace reused): {t_distinct:.3f} s wall, "
        f"{cpu_distinct:.3f} s CPU"
    )
    print(
        f"baseline (naive params x 16 bytes, same candidates): {t_naive:.3f} s CPU; "
        f"ratio ours/naive = {best_cpu / t_naive:.1f}x (grid), {cpu_distinct / t_naive:.1f}x (worst case)"
    )
    print(
        f"goal < 1 s of one core's CPU time: {'met' if best_cpu < 1.0 else 'MISSED'} (grid), "
        f"{'met' if cpu_distinct < 1.0 else 'MISSED'} (worst case); wall time is inflated when the machine is "
        f"shared (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
