"""Which queue a run goes to, from its kind and its predicted peak memory.

The prediction asks the cost model (``predictors.cost.estimate_cost``) with the database's hardware (the
GPU rows ``PUT /v1/hardware`` edits, :func:`database_hardware`): a fine-tune as it is trained, a probe as
the forward passes it runs (its model, untrained, as a method that does not train). When the cost model
cannot cost the candidate, a clear fallback: weights (the cost model's bytes per weight,
``weight_bytes_per_param``) + gradients + AdamW states of the trainable parameters (``count_parameters``
and the method's trainable count) + activations (Korthikanti et al. 2022, arXiv:2205.05198, Eq. 2:
s·b·h·(34 + 5·a·s/h) bytes per layer in 16-bit, which we scale by the weight width) + the fp32 logits and
their gradient. The fallback has no allocator overhead and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from predictors import cost
from predictors.architecture import Architecture, architecture_from_hf_config, count_parameters
from predictors.cost.memory import weight_bytes_per_param
from predictors.errors import InvalidInputError
from predictors.methods import default_method_name, get_method, parse_method, prompting_method_name
from storage.catalogs import load_hardware_catalog
from storage.gguf_header import GgufError, gguf_hf_config
from storage.repositories import catalog as catalog_repo
from workers.hardware import catalog_gpu_id

__all__ = [
    "CPU_QUEUE_MAX_BYTES",
    "calibration_row",
    "choose_queue",
    "database_hardware",
    "fallback_prediction",
    "model_architecture",
    "model_config",
    "predict_run_cost",
    "predict_with_cost_model",
]

logger = logging.getLogger("tunecast.workers")

CPU_QUEUE_MAX_BYTES = 16 * 2**30
"""Probes predicted to need more than this go to GPU workers; every fine-tune goes to ``gpu``."""


def model_config(model: Any, fallback: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The HF config of ``{"id", "architecture"}``, else ``fallback`` (a catalog model's config), else read
    from ``{"id", "path"}``: its ``config.json``, or a ``.gguf`` file's header."""
    if not isinstance(model, dict):
        return None
    config = model.get("architecture") or fallback
    if config is None and model.get("path"):
        path = Path(str(model["path"])).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            try:
                config = gguf_hf_config(path)
            except GgufError:
                return None
        elif path.is_dir() and (path / "config.json").is_file():
            try:
                config = json.loads((path / "config.json").read_text())
            except (OSError, ValueError):
                return None
    return config if isinstance(config, dict) else None


def model_architecture(model: Any, fallback: dict[str, Any] | None = None) -> Architecture | None:
    """The architecture of :func:`model_config`, if it has one the cost model reads."""
    config = model_config(model, fallback)
    if config is None:
        return None
    try:
        return architecture_from_hf_config(config)
    except InvalidInputError:
        return None


DEFAULT_GPU = "H100-SXM"
"""The GPU a candidate without ``hardware`` is priced on."""


def _hardware_request(candidate: dict[str, Any], gpu: str | None = None) -> dict[str, Any]:
    if gpu is not None:
        return {"gpu": gpu, "count": 1}
    return dict(candidate.get("hardware") or {"gpu": DEFAULT_GPU, "count": 1})


def database_hardware(*, session: Session, candidate: dict[str, Any]) -> dict[str, cost.HardwareSpec]:
    """The candidate's GPU as the database holds it, ``PUT /v1/hardware`` edits included: what its run is
    priced with (an unknown GPU: none, and the cost model's error sends the prediction to the fallback)."""
    gpu = str(_hardware_request(candidate)["gpu"])
    values = catalog_repo.hardware_values(session=session, hardware_ids=[gpu])
    return {gpu_id: cost.hardware_spec_from_catalog(row) for gpu_id, row in values.items()}


def _shipped_hardware() -> dict[str, cost.HardwareSpec]:
    """The shipped catalog's GPUs: for callers without a database (a worker's calibration row)."""
    return {row["id"]: cost.hardware_spec_from_catalog(row) for row in load_hardware_catalog()}


def _probe_candidate(candidate: dict[str, Any]) -> dict[str, Any]:
    """A probe runs its model's forward passes without training: a method that does not train is kept
    (ICL's demonstrations lengthen the prompt), any other is costed as zero-shot; the prompts are the
    candidate's sequences (``training.seq_len``, ``micro_batch_size`` at a time) unless it says otherwise."""
    zero_shot = {"name": prompting_method_name(0, "")}
    method = parse_method(candidate.get("method") or zero_shot, field="candidate.method")
    if get_method(method.name).kind != "inference":
        method = parse_method(zero_shot)
    training = candidate.get("training") or {}
    evaluation = candidate.get("evaluation") or {
        "prompt_tokens": int(training.get("seq_len") or 128),
        "batch_size": int(training.get("micro_batch_size") or 4),
    }
    return {**candidate, "method": method.model_dump(mode="json"), "evaluation": evaluation}


def predict_with_cost_model(
    candidate: dict[str, Any],
    arch: Architecture,
    *,
    gpu: str | None = None,
    hardware: Mapping[str, cost.HardwareSpec] | None = None,
) -> dict[str, Any] | None:
    """``predictors.cost.estimate_cost`` for this candidate on ``hardware`` (the database's GPUs; the
    shipped catalog without them), or None when the cost model cannot cost it (logged)."""
    try:
        training_fields = cost.TrainingConfig.model_fields
        training = {k: v for k, v in (candidate.get("training") or {}).items() if k in training_fields}
        request = _hardware_request(candidate, gpu)
        cost_candidate = cost.CostCandidate(
            architecture=arch,
            model_id=str((candidate.get("model") or {}).get("id", "model")),
            method=parse_method(candidate.get("method") or {"name": default_method_name()}, field="candidate.method"),
            training=cost.TrainingConfig(**training),
            hardware=cost.HardwareRequest(**request),
            evaluation=cost.EvaluationConfig(**(candidate.get("evaluation") or {})),
        )
        estimate = cost.estimate_cost(cost_candidate, hardware=_shipped_hardware() if hardware is None else hardware)
        return {
            "peak_memory_bytes": int(estimate.peak_memory_bytes),
            "step_time_s": float(estimate.step_time_s),
            "gpu": request["gpu"],
            "source": "predictors.cost",
            # roofline terms of one micro-step: what a measured step refits the efficiency calibration with
            "family": cost.method_family(cost_candidate.method.name),
            "ideal_compute_s": float(estimate.ideal_compute_s),
            "ideal_memory_s": float(estimate.ideal_memory_s),
            "kernel_launches": int(estimate.kernel_launches),
            "gradient_accumulation_steps": int(cost_candidate.training.gradient_accumulation_steps),
        }
    except Exception as exc:  # noqa: BLE001 - any cost-model failure falls back, and is logged
        logger.warning("cost model could not estimate the run (%s); using the fallback", exc)
        return None


def calibration_row(
    candidate: dict[str, Any],
    *,
    device: str,
    device_name: str,
    memory_bytes: int,
    step_time_s: float | None,
    architecture: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """A measured training step as a cost-model calibration row (CUDA runs on a catalog GPU only: CPU
    steps say nothing about GPU efficiency); ``architecture`` as in :func:`predict_run_cost`."""
    if device != "cuda" or not step_time_s or step_time_s <= 0:
        return None
    gpu = catalog_gpu_id(device_name, memory_bytes)
    arch = model_architecture(candidate.get("model"), architecture)
    if gpu is None or arch is None:
        return None
    predicted = predict_with_cost_model(candidate, arch, gpu=gpu)
    if predicted is None or not predicted.get("ideal_compute_s"):
        return None
    return {
        "family": predicted["family"],
        "gpu": gpu,
        "ideal_compute_s": predicted["ideal_compute_s"],
        "ideal_memory_s": predicted["ideal_memory_s"],
        "kernel_launches": predicted["kernel_launches"],
        "measured_s": float(step_time_s) / max(1, int(predicted["gradient_accumulation_steps"])),
        "predicted_s": float(predicted["step_time_s"]) / max(1, int(predicted["gradient_accumulation_steps"])),
    }


def fallback_prediction(candidate: dict[str, Any], arch: Architecture, kind: str) -> dict[str, Any]:
    training = candidate.get("training") or {}
    precision = str(training.get("precision") or "bf16")
    bytes_per_weight = weight_bytes_per_param(precision)
    total = count_parameters(arch).total_params
    method = parse_method(candidate.get("method") or {"name": default_method_name()}, field="candidate.method")
    spec = get_method(method.name)
    trainable = spec.trainable_params(arch, method) if kind == "finetune" and spec.kind == "finetune" else 0
    batch = int(training.get("micro_batch_size") or 4)
    seq = int(training.get("seq_len") or 128)
    h, layers, heads = arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads
    weights = total * bytes_per_weight
    grads = trainable * (bytes_per_weight if spec.base_weights_trainable else 4.0)
    adam = trainable * 8.0
    if kind == "finetune":
        activations = layers * seq * batch * h * (34 + 5 * heads * seq / h) * bytes_per_weight / 2.0
        logits = 2 * batch * seq * arch.vocab_size * 4.0
    else:
        activations = 2 * seq * batch * h * bytes_per_weight * 4
        logits = batch * seq * arch.vocab_size * 4.0
    return {
        "peak_memory_bytes": int(weights + grads + adam + activations + logits),
        "step_time_s": None,
        "source": "fallback: weights + grads + AdamW states + activations (Korthikanti 2022 Eq. 2) + fp32 logits; "
        "no allocator overhead",
        "total_params": total,
        "trainable_params": trainable,
    }


def _probe_prediction(
    candidate: dict[str, Any], arch: Architecture, hardware: Mapping[str, cost.HardwareSpec] | None
) -> dict[str, Any] | None:
    """A probe's peak memory from the cost model (:func:`_probe_candidate`); no step time: a probe's
    passes are not training steps, so its time limit is not derived from one."""
    predicted = predict_with_cost_model(_probe_candidate(candidate), arch, hardware=hardware)
    if predicted is None:
        return None
    return {
        "peak_memory_bytes": predicted["peak_memory_bytes"],
        "step_time_s": None,
        "gpu": predicted["gpu"],
        "source": "predictors.cost: the probe's forward passes, as a method that does not train",
    }


def predict_run_cost(
    candidate: dict[str, Any],
    kind: str,
    *,
    architecture: dict[str, Any] | None = None,
    hardware: Mapping[str, cost.HardwareSpec] | None = None,
) -> dict[str, Any]:
    """Predicted ``peak_memory_bytes`` (and ``step_time_s``) for routing, on ``hardware`` (the database's,
    :func:`database_hardware`; the shipped catalog without it); ``architecture`` (a catalog model's config)
    is used when the candidate's model carries none."""
    arch = model_architecture(candidate.get("model"), architecture)
    if arch is None:
        return {"peak_memory_bytes": None, "step_time_s": None, "source": "unknown: model config not readable here"}
    if kind == "finetune":
        predicted = predict_with_cost_model(candidate, arch, hardware=hardware)
    else:
        predicted = _probe_prediction(candidate, arch, hardware)
    return predicted if predicted is not None else fallback_prediction(candidate, arch, kind)


def choose_queue(kind: str, predicted: dict[str, Any]) -> str:
    """Fine-tunes go to ``gpu``; probes to ``cpu`` unless predicted above :data:`CPU_QUEUE_MAX_BYTES`."""
    if kind == "finetune":
        return "gpu"
    peak = predicted.get("peak_memory_bytes") or 0
    return "gpu" if peak > CPU_QUEUE_MAX_BYTES else "cpu"
