"""Small helpers the run kinds share: candidate fields, option defaults, measurement values."""

from __future__ import annotations

import random
from typing import Any

from predictors.errors import InvalidInputError
from predictors.methods import MethodConfig, default_method_name, parse_method
from workers.errors import RunInputError
from workers.hardware import measured_hardware
from workers.modeling import Meter
from workers.runtime import RunContext, model_id_of

__all__ = ["candidate_method", "measurement_values", "metered_result", "seed_everything", "training_value"]


def candidate_method(candidate: dict[str, Any]) -> MethodConfig:
    try:
        return parse_method(candidate.get("method", {"name": default_method_name()}), field="candidate.method")
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
    context: RunContext, *, method_name: str, kind: str, result: dict[str, Any], seed: int
) -> dict[str, Any]:
    """The run's measurement: of the task (name and id) and the candidate as it really ran — the hardware it
    ran on instead of the one requested, the training set it trained on (``train_set_examples``, of
    which ``data_fraction`` was used), the learning rate and optimizer steps it used — so it is compared and
    learned from as what it is."""
    candidate = dict(context.candidate)
    candidate["hardware"] = measured_hardware(context.hardware)
    if result.get("train_set_examples"):
        candidate["training"] = {**(candidate.get("training") or {}), "train_examples": result["train_set_examples"]}
    if result.get("learning_rate"):
        # Run options, not Candidate fields: the rate and the optimizer steps taken (``steps`` may override
        # the epochs' count) place this run on the fine-tuning phase axis (predictors/accuracy/phase.py).
        candidate["learning_rate"] = result["learning_rate"]
        candidate["optimizer_steps"] = result.get("steps")
    return {
        "task": context.task_name,
        "task_id": context.task_id,
        "model_id": model_id_of(candidate),
        "method_name": method_name,
        "candidate": {**candidate, "run_kind": kind},
        "accuracy": result.get("accuracy"),
        "gpu_hours": result.get("gpu_hours"),
        "peak_memory_bytes": result.get("peak_memory_bytes"),
        "step_time_s": result.get("step_time_s"),
        "seed": seed,
        "eval_examples": result.get("n_test"),
    }
