"""Measured vs predicted peak memory and step time of full and LoRA fine-tunes (random-weight Llama shapes).

Run by ``benchmarks/gpu_check.sh`` on a lent GPU machine (under 5 minutes on one H100/H200), or with
``--cpu-smoke`` for a seconds-long local check of the script itself on tiny shapes (on CPU the peak is
the process's resident set size, not comparable with the GPU prediction).

For each shape × method: build the model from a config (no download), train ``--warmup`` + ``--steps``
AdamW steps on random tokens, and report ``torch.cuda.max_memory_allocated`` and the mean step time
after warm-up beside the cost model's ``peak_memory_bytes`` / ``step_time_s`` (``predictors.cost`` when
present; the workers' fallback memory estimate otherwise). Prints a table and, with ``--json``, writes
the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from predictors.architecture import architecture_from_hf_config  # noqa: E402
from predictors.methods import get_method, parse_method  # noqa: E402
from workers.finetune import apply_method  # noqa: E402
from workers.hardware import current_rss_bytes  # noqa: E402
from workers.routing import fallback_prediction, predict_with_cost_model  # noqa: E402

LLAMA = {
    "model_type": "llama",
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "rms_norm_eps": 1e-5,
}
GPU_SHAPES = {
    # name: (hidden, intermediate, layers, heads, kv_heads)
    "llama-160m": (768, 2048, 12, 12, 12),
    "llama-1.1b": (2048, 5632, 22, 32, 4),  # TinyLlama-1.1B's shape
    "llama-3b": (3200, 8640, 26, 32, 32),  # OpenLLaMA-3B's shape
}
CPU_SHAPES = {"tiny-a": (64, 128, 2, 4, 2), "tiny-b": (128, 256, 2, 4, 4)}
METHODS = {
    "full": {"name": "full"},
    "lora": {"name": "lora", "rank": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj"]},
}
PLAN = [
    ("llama-160m", "full"),
    ("llama-160m", "lora"),
    ("llama-1.1b", "full"),
    ("llama-1.1b", "lora"),
    ("llama-3b", "lora"),
]

CATALOG_GPU = [
    ("H200", "H200"),
    ("H100 PCIe", "H100-PCIe"),
    ("H100", "H100-SXM"),
    ("A100-SXM4-40GB", "A100-40GB"),
    ("A100", "A100-80GB"),
    ("L40S", "L40S"),
    ("L4", "L4"),
    ("A10G", "A10G"),
    ("4090", "RTX-4090"),
    ("T4", "T4"),
]


def catalog_gpu(device_name: str) -> str:
    for needle, catalog_id in CATALOG_GPU:
        if needle in device_name:
            return catalog_id
    return "H100-SXM"


def config_for(shape: tuple[int, int, int, int, int], vocab: int | None = None) -> dict[str, Any]:
    hidden, inter, layers, heads, kv = shape
    config = {
        **LLAMA,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
    }
    if vocab is not None:
        config["vocab_size"] = vocab
        config["max_position_embeddings"] = 256
    return config


def measure(
    config: dict[str, Any],
    method: dict[str, Any],
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch: int,
    seq: int,
    warmup: int,
    steps: int,
) -> dict[str, Any]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**config)).to(dtype)
    if device.type == "cuda":  # the fp32 construction transient is not part of training's peak
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    config_obj = parse_method(method)
    model = apply_method(model, get_method(config_obj.name).worker_plan(config_obj), method_name=config_obj.name)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    ids = torch.randint(0, config["vocab_size"], (batch, seq), device=device)
    peak_rss = current_rss_bytes()
    times: list[float] = []
    try:
        for step in range(warmup + steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step >= warmup:
                times.append(time.perf_counter() - started)
            peak_rss = max(peak_rss, current_rss_bytes())
    except torch.cuda.OutOfMemoryError as exc:
        return {"fits": False, "error": str(exc)[:200], "peak_memory_bytes": int(torch.cuda.max_memory_allocated())}
    finally:
        del optimizer
    peak = int(torch.cuda.max_memory_allocated()) if device.type == "cuda" else peak_rss
    result = {
        "fits": True,
        "peak_memory_bytes": peak,
        "step_time_s": sum(times) / len(times),
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in trainable),
    }
    del model
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU: checks the script, not the GPU")
    parser.add_argument("--batch", type=int, default=None, help="micro batch (default 8 on GPU, 2 on CPU)")
    parser.add_argument("--seq", type=int, default=None, help="sequence length (default 512 on GPU, 32 on CPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    if args.cpu_smoke:
        device, dtype, precision = torch.device("cpu"), torch.float32, "fp32"
        torch.set_num_threads(1)  # tiny matmuls: extra threads only contend
        shapes, plan, gpu = (
            CPU_SHAPES,
            [("tiny-a", "full"), ("tiny-a", "lora"), ("tiny-b", "full"), ("tiny-b", "lora")],
            "CPU",
        )
        batch, seq, vocab = args.batch or 2, args.seq or 32, 256
        steps, warmup = min(args.steps, 3), min(args.warmup, 1)
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --cpu-smoke for a local check of the script", file=sys.stderr)
            return 2
        device, dtype, precision = torch.device("cuda"), torch.bfloat16, "bf16"
        shapes, plan, gpu = GPU_SHAPES, PLAN, catalog_gpu(torch.cuda.get_device_name(0))
        batch, seq, vocab = args.batch or 8, args.seq or 512, None
        steps, warmup = args.steps, args.warmup
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(
        f"device {device_name} (catalog {gpu}); precision {precision}; micro batch {batch} x seq {seq}; "
        f"{warmup} warm-up + {steps} measured steps; peak memory = "
        + ("torch.cuda.max_memory_allocated" if device.type == "cuda" else "process RSS (not comparable)")
    )
    header = (
        f"{'model':12} {'method':6} {'params':>8} {'trainable':>10} {'meas GiB':>9} {'pred GiB':>9} {'ratio':>6} "
        f"{'meas s':>8} {'pred s':>8} {'ratio':>6} {'fallback GiB':>12}"
    )
    print(header)
    rows = []
    for shape_name, method_name in plan:
        config = config_for(shapes[shape_name], vocab)
        method = METHODS[method_name]
        candidate = {
            "model": {"id": shape_name, "architecture": config},
            "method": method,
            "training": {"micro_batch_size": batch, "seq_len": seq, "precision": precision},
            "hardware": {"gpu": gpu, "count": 1},
        }
        arch = architecture_from_hf_config(config)
        predicted = predict_with_cost_model(candidate, arch, gpu=gpu) or {}
        fallback = fallback_prediction(candidate, arch, "finetune")
        measured = measure(config, method, device=device, dtype=dtype, batch=batch, seq=seq, warmup=warmup, steps=steps)
        row = {
            "model": shape_name,
            "method": method_name,
            "gpu": gpu,
            "device_name": device_name,
            "batch": batch,
            "seq": seq,
            "precision": precision,
            "measured": measured,
            "predicted": predicted,
            "fallback": fallback,
        }
        rows.append(row)
        gib = 2**30
        meas_mem, pred_mem = measured.get("peak_memory_bytes"), predicted.get("peak_memory_bytes")
        meas_t, pred_t = measured.get("step_time_s"), predicted.get("step_time_s")
        fb = fallback.get("peak_memory_bytes")
        print(
            f"{shape_name:12} {method_name:6} {measured.get('total_params', 0) / 1e6:>7.1f}M "
            f"{measured.get('trainable_params', 0) / 1e6:>9.2f}M "
            f"{(meas_mem or 0) / gib:>9.2f} {(pred_mem or 0) / gib if pred_mem else float('nan'):>9.2f} "
            f"{(pred_mem / meas_mem) if pred_mem and meas_mem else float('nan'):>6.2f} "
            f"{meas_t if meas_t else float('nan'):>8.4f} {pred_t if pred_t else float('nan'):>8.4f} "
            f"{(pred_t / meas_t) if pred_t and meas_t else float('nan'):>6.2f} "
            f"{(fb or 0) / gib if fb else float('nan'):>12.2f}"
            + ("" if measured.get("fits", True) else "  OOM (fits=false)")
        )
        sys.stdout.flush()
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"rows written to {args.json}")
    if not any(r["predicted"] for r in rows):
        print("note: predictors.cost gave no prediction (absent or rejected the candidates); see logs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
