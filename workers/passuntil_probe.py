"""``passuntil_probe`` runs: sample until ``r`` passes (cap ``k_max``) per test item of a generation task.

Each test prompt (with the candidate's ICL demonstrations, if any) is sampled at ``temperature`` in
batches until ``r`` samples pass (exact match or the example's checker) or ``k_max`` samples were
drawn. The per-item pass probabilities and the task-level PU come from
:func:`scaling.passuntil.passuntil_estimate` ((r-1)/(K-1) for r >= 2, r/K for r = 1; censored items
get n_passes/k_max), and the measurement's accuracy is that task-level PU.

References
----------
Hu et al. 2024, "Predicting Emergent Abilities with Infinite Resolution Evaluation", arXiv:2310.03262,
Sec. 4.1, Eq. 2.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from scaling.passuntil import passuntil_estimate
from workers.app import celery_app
from workers.common import measurement_values, metered_result, seed_everything, training_value
from workers.errors import RunInputError
from workers.icl_probe import probe_settings
from workers.modeling import (
    Example,
    Meter,
    format_examples,
    is_correct_generation,
    load_model,
    pick_device,
    precision_dtypes,
)
from workers.retrieval import random_demonstrations
from workers.runtime import RunContext, RunOutcome, execute_run

__all__ = ["run", "run_passuntil_probe", "sample_until"]


@torch.no_grad()
def sample_until(
    model: Any,
    tokenizer: Any,
    example: Example,
    prompt: str,
    *,
    r: int,
    k_max: int,
    batch: int,
    temperature: float,
    max_new_tokens: int,
    max_len: int,
    device: torch.device,
    meter: Meter,
) -> tuple[int, int]:
    """(passes, samples): sampling stops at the sample that brings the r-th pass, or at ``k_max``."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -max(1, max_len - max_new_tokens) :].to(device)
    passes = samples = 0
    while samples < k_max:
        n = min(batch, k_max - samples)
        generated = model.generate(
            input_ids=ids.repeat(n, 1),
            attention_mask=torch.ones_like(ids).repeat(n, 1),
            do_sample=True,
            temperature=temperature,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
        meter.tokens += int(generated.numel())
        for row in generated[:, ids.shape[1] :]:
            samples += 1
            text = tokenizer.decode(row, skip_special_tokens=True).split("\n")[0].strip()
            if is_correct_generation(example, text):
                passes += 1
                if passes == r:
                    return passes, samples
        meter.sample()
    return passes, samples


def run_passuntil_probe(context: RunContext) -> RunOutcome:
    candidate, options = context.candidate, context.options
    if context.dataset.kind != "generation":
        raise RunInputError(
            "kind", f"passuntil_probe samples answers: it needs a generation task, not {context.dataset.kind}"
        )
    shots, _retriever, method_name = probe_settings(candidate, options)
    r, k_max = int(options.get("passuntil_r") or 2), int(options.get("passuntil_k_max") or 64)
    seed = int(options.get("seed") or 0)
    seed_everything(seed)
    device = pick_device()
    weight_dtype, _ = precision_dtypes(str(training_value(candidate, "precision", "bf16")), device)
    meter = Meter(device)
    model, tokenizer = load_model(context.model, device=device, dtype=weight_dtype)
    model.eval()
    max_len = int(training_value(candidate, "seq_len", 0) or getattr(model.config, "max_position_embeddings", 2048))
    train = format_examples("generation", context.dataset.train, labels=None)
    test = format_examples("generation", context.dataset.test, labels=None)[: int(options.get("eval_limit") or 1000)]
    rng = random.Random(seed)
    passes: list[int] = []
    samples: list[int] = []
    for index, example in enumerate(test, start=1):
        demos = [train[i] for i in random_demonstrations(len(train), shots, rng)] if shots else []
        prompt = "\n\n".join([*(f"{d.prompt} {d.target}" for d in demos), example.prompt])
        got, drawn = sample_until(
            model,
            tokenizer,
            example,
            prompt,
            r=r,
            k_max=k_max,
            batch=int(options.get("eval_batch_size") or 16),
            temperature=float(options.get("temperature") or 1.0),
            max_new_tokens=int(options.get("max_new_tokens") or 16),
            max_len=max_len,
            device=device,
            meter=meter,
        )
        passes.append(got)
        samples.append(drawn)
        context.progress(step=index, total=len(test), phase="sample")
    estimate = passuntil_estimate(passes, samples, r=r, k_max=k_max, estimator="unbiased" if r >= 2 else "mle")
    result = {
        **metered_result(meter, device_name=context.hardware.name, n_gpus=max(1, context.hardware.count)),
        "accuracy": estimate.task_pass_probability,
        "accuracy_note": "task-level PassUntil pass probability (mean over items), not greedy accuracy",
        "r": r,
        "k_max": k_max,
        "n_passes": passes,
        "n_samples": samples,
        "pass_probability": [float(p) for p in estimate.pass_probability],
        "censored": [bool(c) for c in estimate.censored],
        "n_test": len(test),
        "shots": shots,
        "flops_note": "not counted for sampling (0)",
        "step_time_s": None,
        "predicted": context.predicted,
    }
    result["flops"] = 0
    return RunOutcome(
        result=result,
        measurement=measurement_values(
            context,
            method_name=method_name,
            kind="passuntil_probe",
            result=result,
            seed=seed,
        ),
    )


@celery_app.task(  # type: ignore[untyped-decorator]
    name="tunecast.passuntil_probe.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run(self: Any, run_id: str) -> str:
    """PassUntil probe of the run ``run_id``."""
    return execute_run(self, run_id, "passuntil_probe", run_passuntil_probe)
