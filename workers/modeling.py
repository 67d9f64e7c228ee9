"""Model loading (offline), prompt formats, log-likelihood scoring, generation and pooled embeddings.

Everything a run kind shares. Models load only from a local Hugging Face directory or a ``.gguf`` file
(``candidate.model.path``); nothing is downloaded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from predictors.architecture import architecture_from_hf_config, identity_mismatches
from predictors.errors import InvalidInputError
from workers.errors import RunInputError
from workers.hardware import current_rss_bytes

__all__ = [
    "Example",
    "Meter",
    "check_identity",
    "choice_logprobs",
    "format_examples",
    "generate_answers",
    "is_correct_generation",
    "load_model",
    "mean_pooled_embeddings",
    "pick_device",
    "precision_dtypes",
]


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def precision_dtypes(precision: str, device: torch.device) -> tuple[torch.dtype, torch.dtype | None]:
    """(dtype the weights load in, autocast dtype or None). CPU runs fp32 whatever was asked (said so)."""
    if device.type != "cuda":
        return torch.float32, None
    return {
        "fp32": (torch.float32, None),
        "bf16-mixed": (torch.float32, torch.bfloat16),
        "bf16": (torch.bfloat16, None),
        "fp16": (torch.float16, None),
    }.get(precision, (torch.bfloat16, None))


def load_model(
    model_spec: Any, *, device: torch.device, dtype: torch.dtype, quantization: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """(causal LM, tokenizer) from ``{"id", "path", "architecture"?}``; a ``.gguf`` path goes through
    transformers' GGUF loader. The path is one :func:`workers.runtime.execute_run` resolved inside the model
    roots; with an ``architecture`` the loaded weights must match it (:func:`check_identity`).

    ``quantization`` (QLoRA's plan: ``load_in_4bit``, ``bnb_4bit_quant_type``, ``bnb_4bit_use_double_quant``)
    loads the frozen base in 4 bits with bitsandbytes, on CUDA only.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not isinstance(model_spec, dict) or not model_spec.get("path"):
        raise RunInputError("candidate.model.path", "workers load models offline: give a local HF directory or .gguf")
    path = Path(str(model_spec["path"])).expanduser()
    if not path.exists():
        raise RunInputError("candidate.model.path", f"{str(path)!r} does not exist on worker")
    if path.suffix == ".gguf":
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, local_files_only=True, dtype=dtype
        )
    elif quantization is not None:
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type=quantization.get("bnb_4bit_quant_type", "nf4"),
            bnb_4bit_use_double_quant=bool(quantization.get("bnb_4bit_use_double_quant", True)),
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, quantization_config=config, device_map={"": device.index or 0}
        )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        check_identity(model, model_spec)
        return model, tokenizer
    else:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    check_identity(model, model_spec)
    model = model.to(device)  # type: ignore[arg-type]
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads_for(sum(p.numel() for p in model.parameters())))
    return model, tokenizer


def check_identity(model: Any, model_spec: dict[str, Any]) -> None:
    """Fail the run unless the loaded weights are the model the candidate names: ``model_spec["architecture"]``
    (the catalog's config, or the one the client gave) fixes the architecture fields and the parameter count
    (:func:`predictors.architecture.identity_mismatches`). Without an architecture there is nothing to check
    against (a model of the user's own naming), and the run goes ahead."""
    expected = model_spec.get("architecture")
    if not isinstance(expected, dict):
        return
    try:
        wanted = architecture_from_hf_config(expected)
    except InvalidInputError as exc:
        raise RunInputError("candidate.model.architecture", exc.message) from None
    try:
        found = architecture_from_hf_config(model.config.to_dict())
    except InvalidInputError as exc:
        raise RunInputError("candidate.model", f"the loaded model's config cannot be read: {exc.message}") from None
    # transformers counts a 4-bit (QLoRA) base in its unpacked parameters; torch's numel would halve it
    loaded = int(model.num_parameters()) if hasattr(model, "num_parameters") else None
    mismatches = identity_mismatches(wanted, found, found_params=loaded)
    if mismatches:
        raise RunInputError(
            "candidate.model",
            f"the weights at {model_spec.get('path')} are not {model_spec.get('id')!r}: " + "; ".join(mismatches),
        )


_DEFAULT_THREADS = torch.get_num_threads()
SMALL_MODEL_PARAMS = 20_000_000


def cpu_threads_for(total_params: int) -> int:
    """Intra-op threads on CPU: one for small models, whose matmuls are too small to split (on a shared
    machine, extra threads only contend: measured 20x slower per step for the 50k-parameter test model),
    else torch's default."""
    return 1 if total_params < SMALL_MODEL_PARAMS else _DEFAULT_THREADS


@dataclass(frozen=True, slots=True)
class Example:
    """One example as a prompt plus either scored ``choices`` (with the right index) or an open answer."""

    prompt: str
    choices: tuple[str, ...] | None
    correct: int | None
    answer: str | None
    regex: str | None = None

    @property
    def target(self) -> str:
        """The text a fine-tune learns to produce after the prompt."""
        if self.choices is not None and self.correct is not None:
            return self.choices[self.correct]
        return self.answer or ""


def format_examples(kind: str, rows: Sequence[dict[str, Any]], *, labels: Sequence[Any] | None) -> list[Example]:
    """Prompts in one fixed template per kind (classification ``Label:``, multiple choice ``Answer:``)."""
    examples: list[Example] = []
    if kind == "classification":
        keys = [json.dumps(label) for label in (labels or sorted({json.dumps(r["label"]) for r in rows}))]
        if labels is None:
            keys = sorted(keys)
        names = tuple(str(json.loads(key)) for key in keys)
        for row in rows:
            examples.append(Example(f"{row['text']}\nLabel:", names, keys.index(json.dumps(row["label"])), None))
    elif kind == "multiple_choice":
        for row in rows:
            choices = tuple(row["choices"])
            answer = row["answer"]
            correct = answer if isinstance(answer, int) else choices.index(answer)
            examples.append(Example(f"Question: {row['question']}\nAnswer:", choices, correct, None))
    elif kind == "generation":
        for row in rows:
            regex = (row.get("checker") or {}).get("regex")
            examples.append(Example(f"{row['prompt']}\nAnswer:", None, None, row.get("answer"), regex))
    else:
        raise RunInputError("dataset.kind", f"unknown dataset kind {kind!r}")
    return examples


@dataclass
class Meter:
    """Counts what a run used: tokens, FLOPs (FlopCounterMode on one step) and peak memory.

    On CUDA peak memory is ``torch.cuda.max_memory_allocated``; on CPU it is the largest resident set
    size sampled between steps (whole process: Python, libraries and model), which the result says.
    """

    device: torch.device
    tokens: int = 0
    flops: int = 0
    peak_rss_bytes: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self.sample()

    def sample(self) -> None:
        if self.device.type != "cuda":
            self.peak_rss_bytes = max(self.peak_rss_bytes, current_rss_bytes())

    @property
    def peak_memory_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated())
        return self.peak_rss_bytes

    @property
    def peak_memory_source(self) -> str:
        if self.device.type == "cuda":
            return "torch.cuda.max_memory_allocated"
        return "cpu: peak resident set size of the worker process sampled between steps (includes runtime)"

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.started

    @contextmanager
    def count_flops(self) -> Iterator[FlopCounterMode]:
        with FlopCounterMode(display=False) as counter:
            yield counter


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def encode_pairs(
    tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], *, max_len: int, eos: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels) for prompt+target sequences, prompts left-truncated to fit,
    labels -100 outside the target, right padding."""
    rows: list[tuple[list[int], list[int]]] = []
    for prompt, target in zip(prompts, targets, strict=True):
        prompt_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
        target_ids = list(tokenizer(" " + target, add_special_tokens=False)["input_ids"])
        if eos and tokenizer.eos_token_id is not None:
            target_ids.append(int(tokenizer.eos_token_id))
        target_ids = target_ids[: max(1, max_len // 2)]
        prompt_ids = (
            prompt_ids[-(max_len - len(target_ids)) :] if len(prompt_ids) + len(target_ids) > max_len else prompt_ids
        )
        rows.append((prompt_ids, target_ids))
    width = max(len(p) + len(t) for p, t in rows)
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for index, (prompt_ids, target_ids) in enumerate(rows):
        ids = prompt_ids + target_ids
        input_ids[index, : len(ids)] = torch.tensor(ids)
        attention[index, : len(ids)] = 1
        labels[index, len(prompt_ids) : len(ids)] = torch.tensor(target_ids)
    return input_ids, attention, labels


def sequence_logprobs(
    model: Any, input_ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Sum of log p(label token | prefix) per row. Works for prompt-tuned peft models too: their extra
    virtual-token logits come first, so the last ``input_ids.shape[1]`` positions are the real ones."""
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, -input_ids.shape[1] :].float()
    shifted = logits[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    gathered = torch.log_softmax(shifted, dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (gathered * mask).sum(dim=-1)


def token_loss(model: Any, input_ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over target tokens (the fine-tuning loss)."""
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, -input_ids.shape[1] :].float()
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )


@torch.no_grad()
def choice_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    *,
    device: torch.device,
    max_len: int,
    batch_size: int,
    meter: Meter | None = None,
) -> list[list[float]]:
    """log p(choice | prompt) for every choice of every prompt (label log-likelihood scoring)."""
    flat = [
        (i, prompt, choice)
        for i, (prompt, options) in enumerate(zip(prompts, choices, strict=True))
        for choice in options
    ]
    scores: list[list[float]] = [[] for _ in prompts]
    for batch in _batched(flat, batch_size):
        input_ids, attention, labels = encode_pairs(
            tokenizer, [p for _, p, _ in batch], [c for _, _, c in batch], max_len=max_len, eos=False
        )
        if meter is not None:
            meter.tokens += int(attention.sum())
        values = sequence_logprobs(model, input_ids.to(device), attention.to(device), labels.to(device))
        for (index, _, _), value in zip(batch, values.tolist(), strict=True):
            scores[index].append(float(value))
        if meter is not None:
            meter.sample()
    return scores


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().split())


def is_correct_generation(example: Example, output: str) -> bool:
    """Exact match after whitespace/case normalisation, or the example's regex checker (search)."""
    if example.regex is not None:
        return re.search(example.regex, output) is not None
    return _normalise(output) == _normalise(example.answer or "")


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    device: torch.device,
    max_len: int,
    max_new_tokens: int,
    meter: Meter | None = None,
) -> list[str]:
    """Greedy continuations, one prompt at a time (no padding effects), cut at the first newline."""
    outputs: list[str] = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -max(1, max_len - max_new_tokens) :].to(device)
        generated = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new = generated[0, ids.shape[1] :]
        if meter is not None:
            meter.tokens += int(ids.shape[1] + new.shape[0])
            meter.sample()
        outputs.append(tokenizer.decode(new, skip_special_tokens=True).split("\n")[0].strip())
    return outputs


@torch.no_grad()
def mean_pooled_embeddings(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    device: torch.device,
    max_len: int,
    batch_size: int,
    meter: Meter | None = None,
) -> torch.Tensor:
    """Mean over non-padding tokens of the last hidden layer, one row per text (fp32, on CPU)."""
    rows: list[torch.Tensor] = []
    for batch in _batched(texts, batch_size):
        encoded = tokenizer(list(batch), return_tensors="pt", padding=True, truncation=True, max_length=max_len)
        input_ids, attention = encoded["input_ids"].to(device), encoded["attention_mask"].to(device)
        hidden = model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True).hidden_states[-1]
        hidden = hidden[:, -input_ids.shape[1] :].float()
        mask = attention.unsqueeze(-1).to(hidden.dtype)
        rows.append(((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).cpu())
        if meter is not None:
            meter.tokens += int(attention.sum())
            meter.sample()
    return torch.cat(rows) if rows else torch.zeros((0, 0))
