"""``finetune`` runs: transformers + peft on the task's train split, then evaluation on its test split.

Every fine-tuning method of the registry runs here from its ``worker_plan`` (no method is named here):
a peft config class by name, the method's own builder, a ``requires_grad`` selection of base parameters,
or a linear head on frozen pooled states. A 4-bit base needs CUDA and bitsandbytes and fails with a
clear error elsewhere. The loop is plain PyTorch (AdamW), so the cancel flag is checked between steps.
Every ``TUNECAST_CHECKPOINT_EVERY_STEPS`` steps it saves a checkpoint (:mod:`workers.checkpoints`), and a
delivery that finds one goes on from it with the same weights, optimizer, data order and RNG states.
Accuracy: label log-likelihood over choices (classification, multiple choice), or greedy generation with
exact match / the example's checker (generation); the linear probe classifies with its head.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from predictors.methods import get_method
from workers.app import celery_app
from workers.checkpoints import load_checkpoint, save_checkpoint
from workers.common import candidate_method, measurement_values, metered_result, seed_everything, training_value
from workers.errors import RunInputError
from workers.modeling import (
    Example,
    Meter,
    choice_logprobs,
    encode_pairs,
    format_examples,
    generate_answers,
    is_correct_generation,
    load_model,
    mean_pooled_embeddings,
    pick_device,
    precision_dtypes,
    token_loss,
)
from workers.routing import calibration_row
from workers.runtime import RunContext, RunOutcome, execute_run

__all__ = ["apply_method", "run", "run_finetune", "training_subset"]

logger = logging.getLogger("tunecast.workers")


def _decoder_layers(model: Any) -> Any:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise RunInputError("candidate.method.name", f"cannot find decoder layers on {type(model).__name__}")
    return layers


def apply_method(model: Any, plan: dict[str, Any], *, method_name: str, steps: int | None = None) -> Any:
    """Make the planned parameters trainable (a peft config class by name, the method's own builder, or a
    ``requires_grad`` selection; see ``predictors.methods.base.WorkerPlanFn``); returns the model. ``steps``
    fills the peft arguments the plan takes from the run (``peft_run_kwargs``, e.g. AdaLoRA's total_step)."""
    if plan.get("peft_config") is not None:
        import peft

        config_cls = getattr(peft, str(plan["peft_config"]), None)
        if config_cls is None:
            raise RunInputError(
                "candidate.method.name", f"{method_name}: peft {peft.__version__} has no {plan['peft_config']}"
            )
        run_facts = {"steps": steps}
        kwargs = {
            **plan.get("peft_kwargs", {}),
            **{k: run_facts[v] for k, v in plan.get("peft_run_kwargs", {}).items()},
        }
        try:
            return peft.get_peft_model(model, config_cls(task_type=peft.TaskType.CAUSAL_LM, **kwargs))
        except (TypeError, ValueError) as exc:
            raise RunInputError("candidate.method", f"{method_name}: peft refuses the configuration: {exc}") from None
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if plan.get("builder") is not None:
        model = plan["builder"](model)
    _select_trainable(model, plan.get("trainable") or {})
    if plan.get("head") is None and not any(p.requires_grad for p in model.parameters()):
        raise RunInputError("candidate.method.name", f"{method_name}: this model has no parameters it would train")
    return model


def _select_trainable(model: Any, selection: dict[str, Any]) -> None:
    """Unfreeze what ``selection`` names: ``every`` parameter, ``name_suffixes``, ``module_types`` (class name
    contains, lower case) and the ``last_layers`` decoder blocks."""
    if selection.get("every"):
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    suffixes = tuple(selection.get("name_suffixes") or ())
    for name, parameter in model.named_parameters():
        if suffixes and name.endswith(suffixes):
            parameter.requires_grad_(True)
    for kind in selection.get("module_types") or ():
        for module in model.modules():
            if kind in type(module).__name__.lower():
                for parameter in module.parameters(recurse=False):
                    parameter.requires_grad_(True)
    k = int(selection.get("last_layers") or 0)
    if k:
        layers = _decoder_layers(model)
        if k > len(layers):
            field = f"candidate.method.{selection.get('last_layers_field', 'name')}"
            raise RunInputError(field, f"must not exceed the model's {len(layers)} layers, got {k}")
        for layer in list(layers)[-k:]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)


def training_subset(train: list[Example], *, candidate: dict[str, Any], seed: int) -> list[Example]:
    """The examples a candidate trains on: ``training.train_examples`` of the train split (all when unset),
    times ``training.data_fraction``, drawn without replacement by the run's seed — so a verification run
    of a 0.1-portion candidate trains on a tenth of the data, as its cost and accuracy were predicted."""
    wanted = training_value(candidate, "train_examples", None)
    if wanted is not None and int(wanted) > len(train):
        raise RunInputError(
            "candidate.training.train_examples",
            f"the dataset's train split has {len(train)} examples, fewer than the {int(wanted)} asked for",
        )
    fraction = float(training_value(candidate, "data_fraction", 1.0))
    if not 0.0 < fraction <= 1.0:
        raise RunInputError("candidate.training.data_fraction", f"must be in (0, 1], got {fraction}")
    count = max(1, round((len(train) if wanted is None else int(wanted)) * fraction))
    if count >= len(train):
        return train
    return random.Random(f"{seed}:subset").sample(train, count)


def _count(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def _evaluate(
    context: RunContext,
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    *,
    device: torch.device,
    max_len: int,
    meter: Meter,
) -> float:
    batch_size = int(context.options.get("eval_batch_size") or 16)
    model.eval()
    if examples and examples[0].choices is not None:
        scores = choice_logprobs(
            model,
            tokenizer,
            [e.prompt for e in examples],
            [e.choices or () for e in examples],
            device=device,
            max_len=max_len,
            batch_size=batch_size,
            meter=meter,
        )
        hits = [max(range(len(row)), key=row.__getitem__) == e.correct for row, e in zip(scores, examples, strict=True)]
    else:
        outputs = generate_answers(
            model,
            tokenizer,
            [e.prompt for e in examples],
            device=device,
            max_len=max_len,
            max_new_tokens=int(context.options.get("max_new_tokens") or 16),
            meter=meter,
        )
        hits = [is_correct_generation(e, out) for e, out in zip(examples, outputs, strict=True)]
    return sum(hits) / len(hits) if hits else 0.0


def run_finetune(context: RunContext) -> RunOutcome:
    candidate, options = context.candidate, context.options
    method = candidate_method(candidate)
    spec = get_method(method.name)
    if spec.kind != "finetune":
        raise RunInputError("candidate.method.name", f"{method.name} does not train; use an icl_probe run")
    plan = spec.worker_plan(method)
    device = pick_device()
    quantization = plan.get("quantization")
    if quantization:
        if device.type != "cuda":
            raise RunInputError(
                "candidate.method.name",
                f"{method.name} needs a CUDA GPU (bitsandbytes 4-bit base); this worker has none",
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise RunInputError("candidate.method.name", f"{method.name} needs bitsandbytes on the worker")
    seed = int(options.get("seed") or 0)
    seed_everything(seed)
    weight_dtype, autocast_dtype = precision_dtypes(str(training_value(candidate, "precision", "bf16")), device)
    meter = Meter(device)
    model, tokenizer = load_model(context.model, device=device, dtype=weight_dtype, quantization=quantization)
    if quantization:
        import peft

        model = peft.prepare_model_for_kbit_training(model)  # type: ignore[no-untyped-call]
    max_len = int(training_value(candidate, "seq_len", 128))
    micro_batch = int(training_value(candidate, "micro_batch_size", 4))
    accumulation = int(training_value(candidate, "gradient_accumulation_steps", 1))
    kind = context.dataset.kind
    train_set = format_examples(kind, context.dataset.train, labels=context.labels)
    train = training_subset(train_set, candidate=candidate, seed=seed)
    test = format_examples(kind, context.dataset.test, labels=context.labels)[: int(options.get("eval_limit") or 1000)]
    head: torch.nn.Linear | None = None
    if spec.task_kinds is not None and kind not in spec.task_kinds:
        wanted = " or ".join(sorted(spec.task_kinds))
        raise RunInputError("candidate.method.name", f"{method.name} needs a {wanted} dataset, got {kind}")
    if plan.get("head") is not None:
        n_labels = len(train[0].choices or ())
        head = torch.nn.Linear(int(model.config.hidden_size), n_labels).to(device)
    steps = int(
        options.get("steps")
        or max(1, math.ceil(float(training_value(candidate, "epochs", 1)) * len(train) / (micro_batch * accumulation)))
    )
    model = apply_method(model, plan, method_name=method.name, steps=steps)
    learning_rate = float(options.get("learning_rate") or spec.default_learning_rate)
    parameters = [p for p in model.parameters() if p.requires_grad] + (list(head.parameters()) if head else [])
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    total_params, trainable_params = _count(model)
    if head is not None:
        trainable_params = sum(p.numel() for p in head.parameters())
    training = _Training(
        model=model,
        tokenizer=tokenizer,
        head=head,
        optimizer=optimizer,
        meter=meter,
        device=device,
        autocast_dtype=autocast_dtype,
        train=train,
        max_len=max_len,
        micro_batch=micro_batch,
        accumulation=accumulation,
        steps=steps,
        rng=random.Random(seed),
        after_step=getattr(model.base_model, plan["after_step"]) if plan.get("after_step") else None,
    )
    loop = _train(context, training)
    step_times, flops_per_step, loss_value = loop.step_times, loop.flops_per_step, loop.loss
    train_tokens = meter.tokens
    meter.flops = flops_per_step * steps
    context.progress(step=steps, total=steps, loss=loss_value, phase="evaluate", force=True)
    if head is not None:
        accuracy = _evaluate_head(model, tokenizer, head, test, device=device, max_len=max_len, meter=meter)
    else:
        accuracy = _evaluate(context, model, tokenizer, test, device=device, max_len=max_len, meter=meter)
    measured_steps = step_times[1:] or step_times
    result = {
        **metered_result(meter, device_name=context.hardware.name, n_gpus=max(1, context.hardware.count)),
        "accuracy": accuracy,
        "n_test": len(test),
        "n_train": len(train),
        "train_set_examples": int(training_value(candidate, "train_examples", None) or len(train_set)),
        "steps": steps,
        "resumed_from_step": loop.resumed_from,
        "final_loss": loss_value,
        "step_time_s": sum(measured_steps) / len(measured_steps),
        "step_time_note": "mean over steps after the first (the first includes FLOP counting and warm-up)",
        "flops_per_step": flops_per_step,
        "flops_note": "FlopCounterMode on step 1 (forward+backward), times steps; evaluation not counted",
        "train_tokens": train_tokens,
        "total_params": total_params,
        "trainable_params": trainable_params,
        "method": method.name,
        "learning_rate": learning_rate,
        "precision_used": str(weight_dtype).removeprefix("torch.")
        + (f"+autocast {autocast_dtype}" if autocast_dtype else ""),
        "predicted": context.predicted,
    }
    measured_row = calibration_row(
        context.candidate,
        device=context.hardware.device,
        device_name=context.hardware.name,
        memory_bytes=context.hardware.memory_bytes,
        step_time_s=result["step_time_s"],
        architecture=context.model.get("architecture"),
    )
    if measured_row is not None:
        result["calibration_row"] = measured_row
    return RunOutcome(
        result=result,
        measurement=measurement_values(
            context,
            method_name=method.name,
            kind="finetune",
            result=result,
            seed=seed,
        ),
    )


@dataclass
class _Training:
    """What the loop trains with, built once per delivery (the same way each time, from the run's seed)."""

    model: Any
    tokenizer: Any
    head: torch.nn.Linear | None
    optimizer: torch.optim.Optimizer
    meter: Meter
    device: torch.device
    autocast_dtype: torch.dtype | None
    train: list[Example]
    max_len: int
    micro_batch: int
    accumulation: int
    steps: int
    rng: random.Random
    after_step: Any = None  # the plan's per-step call on the peft model (AdaLoRA's rank budget), given the step

    def trainables(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        yield from ((name, p) for name, p in self.model.named_parameters() if p.requires_grad)
        if self.head is not None:
            yield from ((f"head.{name}", p) for name, p in self.head.named_parameters())


@dataclass
class _Loop:
    """Where the loop is: what a checkpoint keeps besides the tensors and the RNG states."""

    step: int = 0
    order: list[int] = field(default_factory=list)  # the shuffled example indices still to draw
    step_times: list[float] = field(default_factory=list)
    flops_per_step: int = 0
    loss: float | None = None
    resumed_from: int = 0


def _train(context: RunContext, training: _Training) -> _Loop:
    """The optimizer steps, from the run's checkpoint when it has one, saving one every N steps (after a
    progress report that confirmed this delivery still holds the run)."""
    loop = _resume(context, training)
    training.model.train()
    context.progress(step=loop.step, total=training.steps, loss=loop.loss, force=True)
    for step in range(loop.step + 1, training.steps + 1):
        _step(training, loop, step)
        due = context.checkpoint_due(step, training.steps)
        context.progress(step=step, total=training.steps, loss=loop.loss, force=due)
        if due:
            _save(context, training, loop)
    return loop


def _step(training: _Training, loop: _Loop, step: int) -> None:
    t = training
    started = time.perf_counter()
    t.optimizer.zero_grad(set_to_none=True)
    step_loss = 0.0
    with t.meter.count_flops() if step == 1 else nullcontext() as flop_mode:
        for _ in range(t.accumulation):
            while len(loop.order) < t.micro_batch:  # a training set smaller than a micro-batch repeats
                loop.order.extend(t.rng.sample(range(len(t.train)), len(t.train)))
            batch = [t.train[loop.order.pop()] for _ in range(t.micro_batch)]
            with torch.autocast(t.device.type, dtype=t.autocast_dtype, enabled=t.autocast_dtype is not None):
                loss = _batch_loss(
                    t.model, t.tokenizer, batch, head=t.head, device=t.device, max_len=t.max_len, meter=t.meter
                )
            (loss / t.accumulation).backward()  # type: ignore[no-untyped-call]
            step_loss += float(loss.detach()) / t.accumulation
        t.optimizer.step()
        if t.after_step is not None:
            t.after_step(step)
    if flop_mode is not None:
        loop.flops_per_step = int(flop_mode.get_total_flops())
    if t.device.type == "cuda":
        torch.cuda.synchronize()
    loop.step_times.append(time.perf_counter() - started)
    t.meter.sample()
    loop.step, loop.loss = step, step_loss


def _save(context: RunContext, training: _Training, loop: _Loop) -> None:
    state = {
        "run_id": context.run_id,
        "steps": training.steps,
        "step": loop.step,
        "trainable": {name: p.detach().cpu() for name, p in training.trainables()},
        "optimizer": training.optimizer.state_dict(),
        "order": list(loop.order),
        "step_times": list(loop.step_times),
        "flops_per_step": loop.flops_per_step,
        "loss": loop.loss,
        "tokens": training.meter.tokens,
        "wall_s": training.meter.wall_s,
        "rng": training.rng.getstate(),
        "python_rng": random.getstate(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if training.device.type == "cuda" else [],
    }
    size = save_checkpoint(context.checkpoint_path, state)
    logger.info("run %s: checkpoint at step %d (%d bytes)", context.run_id, loop.step, size)


def _resume(context: RunContext, training: _Training) -> _Loop:
    """The loop as the run's checkpoint left it (weights, optimizer and RNG states restored), or a fresh
    one when there is none or it is of another shape (then the run starts over)."""
    state = load_checkpoint(context.checkpoint_path)
    if state is None:
        return _Loop()
    params = dict(training.trainables())
    saved = state.get("trainable") or {}
    if (state.get("run_id"), state.get("steps"), set(saved)) != (context.run_id, training.steps, set(params)):
        logger.warning("run %s: its checkpoint does not fit this training; starting over", context.run_id)
        return _Loop()
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor)
    training.optimizer.load_state_dict(state["optimizer"])
    training.rng.setstate(state["rng"])
    random.setstate(state["python_rng"])
    torch.set_rng_state(state["torch_rng"])
    if training.device.type == "cuda" and state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    training.meter.tokens = int(state["tokens"])
    training.meter.started -= float(state["wall_s"])  # wall time counts the training, not the outage
    step = int(state["step"])
    context.resumed(step)
    loop = _Loop(step, list(state["order"]), list(state["step_times"]), int(state["flops_per_step"]), state["loss"])
    loop.resumed_from = step
    return loop


def _pooled(model: Any, input_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    hidden: torch.Tensor = model(
        input_ids=input_ids, attention_mask=attention, output_hidden_states=True
    ).hidden_states[-1]
    hidden = hidden.float()
    mask = attention.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def _batch_loss(
    model: Any,
    tokenizer: Any,
    batch: list[Example],
    *,
    head: torch.nn.Linear | None,
    device: torch.device,
    max_len: int,
    meter: Meter,
) -> torch.Tensor:
    if head is not None:
        encoded = tokenizer(
            [e.prompt for e in batch], return_tensors="pt", padding=True, truncation=True, max_length=max_len
        )
        attention = encoded["attention_mask"].to(device)
        meter.tokens += int(attention.sum())
        with torch.no_grad():
            pooled = _pooled(model, encoded["input_ids"].to(device), attention)
        targets = torch.tensor([e.correct for e in batch], device=device)
        return torch.nn.functional.cross_entropy(head(pooled), targets)
    input_ids, attention, labels = encode_pairs(
        tokenizer, [e.prompt for e in batch], [e.target for e in batch], max_len=max_len, eos=batch[0].choices is None
    )
    meter.tokens += int(attention.sum())
    return token_loss(model, input_ids.to(device), attention.to(device), labels.to(device))


@torch.no_grad()
def _evaluate_head(
    model: Any,
    tokenizer: Any,
    head: torch.nn.Linear,
    examples: list[Example],
    *,
    device: torch.device,
    max_len: int,
    meter: Meter,
) -> float:
    model.eval()
    embeddings = mean_pooled_embeddings(
        model, tokenizer, [e.prompt for e in examples], device=device, max_len=max_len, batch_size=16, meter=meter
    )
    predictions = head(embeddings.to(device)).argmax(dim=-1).tolist()
    return sum(int(p == e.correct) for p, e in zip(predictions, examples, strict=True)) / max(1, len(examples))


@celery_app.task(  # type: ignore[untyped-decorator]
    name="tunecast.finetune.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run(self: Any, run_id: str) -> str:
    """Fine-tune and evaluate the run ``run_id`` (the message carries the id only)."""
    return execute_run(self, run_id, "finetune", run_finetune)
