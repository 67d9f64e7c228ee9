"""Small helpers the run kinds share: candidate fields, option defaults, measurement values."""

from __future__ import annotations

import random
from typing import Any

from predictors.errors import InvalidInputError
from predictors.methods import MethodConfig, parse_method
from workers.errors import RunInputError
from workers.modeling import Meter

__all__ = ["candidate_method", "measurement_values", "metered_result", "seed_everything", "training_value"]


def candidate_method(candidate: dict[str, Any]) -> MethodConfig:
    try:
        return parse_method(candidate.get("method", {"name": "full"}), field="candidate.method")
    except InvalidInputError as exc:
        raise RunInputError(exc.field, exc.message) from None


def training_value(candidate: dict[str, Any], name: str, default: Any) -> Any:
    training = candidate.get("training") or {}
    value = training.get(name)
    return default if value is None else value


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def metered_result(meter: Meter, *, device_name: str, n_gpus: int) -> dict[str, Any]:
    wall_s = meter.wall_s
    return {
        "wall_s": wall_s,
        "gpu_hours": wall_s / 3600.0 * n_gpus if meter.device.type == "cuda" else 0.0,
        "cpu_hours": wall_s / 3600.0 if meter.device.type != "cuda" else 0.0,
        "peak_memory_bytes": meter.peak_memory_bytes,
        "peak_memory_source": meter.peak_memory_source,
        "tokens_processed": meter.tokens,
        "flops": meter.flops,
        "device": meter.device.type,
        "device_name": device_name,
        "fits": True,
    }


def measurement_values(
    *, task_id: str | None, candidate: dict[str, Any], method_name: str, kind: str, result: dict[str, Any], seed: int
) -> dict[str, Any]:
    model = candidate.get("model") or {}
    return {
        "task": task_id or "",
        "model_id": str(model.get("id", "")) if isinstance(model, dict) else str(model),
        "method_name": method_name,
        "candidate": {**candidate, "run_kind": kind},
        "accuracy": result.get("accuracy"),
        "gpu_hours": result.get("gpu_hours"),
        "peak_memory_bytes": result.get("peak_memory_bytes"),
        "step_time_s": result.get("step_time_s"),
        "seed": seed,
        "eval_examples": result.get("n_test"),
    }
