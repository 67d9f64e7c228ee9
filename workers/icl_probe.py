"""``icl_probe`` runs: k-shot accuracy of the frozen model on the task's test split.

Demonstrations come from the train split: drawn at random (seeded; ``fixed`` uses one draw for every
query), retrieved by BM25 over the prompt text, or by cosine similarity of the model's own mean-pooled
embeddings. Choice tasks are scored by label log-likelihood; generation tasks by greedy generation
with exact match or the example's regex checker.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from predictors.methods import get_method, prompting_method_name
from workers.app import celery_app
from workers.common import candidate_method, measurement_values, metered_result, seed_everything, training_value
from workers.errors import RunInputError
from workers.modeling import (
    Example,
    Meter,
    choice_logprobs,
    format_examples,
    generate_answers,
    is_correct_generation,
    load_model,
    mean_pooled_embeddings,
    pick_device,
    precision_dtypes,
)
from workers.retrieval import Bm25, random_demonstrations
from workers.runtime import RunContext, RunOutcome, execute_run

__all__ = ["probe_settings", "run", "run_icl_probe"]

RETRIEVERS = ("random", "fixed", "bm25", "embedding")


def probe_settings(candidate: dict[str, Any], options: dict[str, Any]) -> tuple[int, str, str]:
    """(shots, retriever, method name measured): options override the candidate's icl/rag_icl method."""
    method = candidate_method(candidate)
    spec = get_method(method.name)
    shots = int(getattr(method, "shots", 0)) if spec.kind == "inference" else 4
    retriever = str(getattr(method, "retriever", None) or getattr(method, "selection", "random"))
    if options.get("shots") is not None:
        shots = int(options["shots"])
    if options.get("retriever") is not None:
        retriever = str(options["retriever"])
    if retriever not in RETRIEVERS:
        raise RunInputError("options.retriever", f"must be one of {', '.join(RETRIEVERS)}, got {retriever!r}")
    return shots, retriever, prompting_method_name(shots, retriever)


def _demonstrations(
    retriever: str, shots: int, train: list[Example], test: list[Example], *, seed: int, embed: Any
) -> list[list[int]]:
    if shots == 0 or not train:
        return [[] for _ in test]
    rng = random.Random(seed)
    if retriever == "fixed":
        chosen = random_demonstrations(len(train), shots, rng)
        return [chosen for _ in test]
    if retriever == "random":
        return [random_demonstrations(len(train), shots, rng) for _ in test]
    if retriever == "bm25":
        index = Bm25([e.prompt for e in train])
        return [index.top_k(e.prompt, shots) for e in test]
    pool = torch.nn.functional.normalize(embed([e.prompt for e in train]), dim=-1)
    queries = torch.nn.functional.normalize(embed([e.prompt for e in test]), dim=-1)
    similarity = queries @ pool.T
    indices: list[list[int]] = similarity.topk(min(shots, len(train)), dim=-1).indices.tolist()
    return indices


def _prompt(example: Example, demonstrations: list[Example]) -> str:
    shots = [f"{d.prompt} {d.target}" for d in demonstrations]
    return "\n\n".join([*shots, example.prompt])


def run_icl_probe(context: RunContext) -> RunOutcome:
    candidate, options = context.candidate, context.options
    shots, retriever, method_name = probe_settings(candidate, options)
    seed = int(options.get("seed") or 0)
    seed_everything(seed)
    device = pick_device()
    weight_dtype, _ = precision_dtypes(str(training_value(candidate, "precision", "bf16")), device)
    meter = Meter(device)
    model, tokenizer = load_model(context.model, device=device, dtype=weight_dtype)
    model.eval()
    max_len = int(training_value(candidate, "seq_len", 0) or getattr(model.config, "max_position_embeddings", 2048))
    batch_size = int(options.get("eval_batch_size") or 16)
    kind = context.dataset.kind
    train = format_examples(kind, context.dataset.train, labels=context.labels)
    test = format_examples(kind, context.dataset.test, labels=context.labels)[: int(options.get("eval_limit") or 1000)]

    def embed(texts: list[str]) -> torch.Tensor:
        return mean_pooled_embeddings(
            model, tokenizer, texts, device=device, max_len=max_len, batch_size=batch_size, meter=meter
        )

    chosen = _demonstrations(retriever, shots, train, test, seed=seed, embed=embed)
    prompts = [_prompt(e, [train[i] for i in ids]) for e, ids in zip(test, chosen, strict=True)]
    hits: list[bool] = []
    chunk = max(1, batch_size)
    flops_first = 0
    for start in range(0, len(test), chunk):
        examples, batch_prompts = test[start : start + chunk], prompts[start : start + chunk]
        counting = start == 0
        with meter.count_flops() if counting else _null() as counter:
            if examples[0].choices is not None:
                scores = choice_logprobs(
                    model,
                    tokenizer,
                    batch_prompts,
                    [e.choices or () for e in examples],
                    device=device,
                    max_len=max_len,
                    batch_size=batch_size,
                    meter=meter,
                )
                hits += [
                    max(range(len(s)), key=s.__getitem__) == e.correct for s, e in zip(scores, examples, strict=True)
                ]
            else:
                outputs = generate_answers(
                    model,
                    tokenizer,
                    batch_prompts,
                    device=device,
                    max_len=max_len,
                    max_new_tokens=int(options.get("max_new_tokens") or 16),
                    meter=meter,
                )
                hits += [is_correct_generation(e, out) for e, out in zip(examples, outputs, strict=True)]
        if counter is not None:
            flops_first = int(counter.get_total_flops())
        context.progress(step=min(start + chunk, len(test)), total=len(test), phase="evaluate")
    n_chunks = max(1, -(-len(test) // chunk))
    meter.flops = flops_first * n_chunks
    result = {
        **metered_result(meter, device_name=context.hardware.name, n_gpus=max(1, context.hardware.count)),
        "accuracy": sum(hits) / len(hits) if hits else 0.0,
        "n_test": len(test),
        "shots": shots,
        "retriever": retriever,
        "scoring": "label log-likelihood"
        if test and test[0].choices is not None
        else "greedy generation, exact match/checker",
        "flops_note": "FlopCounterMode on the first evaluation chunk, times chunks",
        "step_time_s": None,
        "predicted": context.predicted,
    }
    return RunOutcome(
        result=result,
        measurement=measurement_values(
            context,
            method_name=method_name,
            kind="icl_probe",
            result=result,
            seed=seed,
        ),
    )


def _null() -> Any:
    from contextlib import nullcontext

    return nullcontext()


@celery_app.task(  # type: ignore[untyped-decorator]
    name="tunecast.icl_probe.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run(self: Any, run_id: str) -> str:
    """k-shot probe of the run ``run_id``."""
    return execute_run(self, run_id, "icl_probe", run_icl_probe)
