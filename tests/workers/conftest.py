"""Tiny random Llama models with a word-level tokenizer built in code (no downloads), and task data."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "great",
    "good",
    "fine",
    "bad",
    "awful",
    "terrible",
    "boring",
    "lovely",
    "plot",
    "acting",
    "story",
    "review",
    "number",
    "question",
    "answer",
    "label",
    "pos",
    "neg",
    "yes",
    "no",
    "what",
    "is",
    "plus",
    "equals",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "echo",
    "say",
    "digit",
    "red",
    "green",
    "blue",
    "color",
    "of",
    "sky",
    "grass",
]


def build_tokenizer(directory: Path) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {
        token: index
        for index, token in enumerate(specials + WORDS + [str(d) for d in range(10)] + [":", "?", "+", "="])
    }
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_llama(directory: Path, *, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """A random-weight Llama (hidden 32, 2 layers, biased attention so BitFit has something to train)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        attention_bias=True,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def classification_rows(n: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    good, bad = ["great", "good", "lovely", "fine"], ["bad", "awful", "terrible", "boring"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        word = rng.choice(good if positive else bad)
        rows.append({"text": f"the movie was {word}", "label": "pos" if positive else "neg"})
    return rows


def multiple_choice_rows(n: int = 12) -> list[dict[str, Any]]:
    names = ["one", "two", "three", "four", "five"]
    return [
        {
            "question": f"what is {names[i % 4]} plus one ?",
            "choices": [names[i % 4 + 1], names[(i + 2) % 5], "ten"],
            "answer": 0,
        }
        for i in range(n)
    ]


def generation_rows(n: int = 8) -> list[dict[str, Any]]:
    return [{"prompt": f"echo {i % 10}", "answer": str(i % 10)} for i in range(n - 1)] + [
        {"prompt": "say a digit", "checker": {"regex": r"\d"}}
    ]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
