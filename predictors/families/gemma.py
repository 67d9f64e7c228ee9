"""Gemma: a Llama-style block whose lm_head is tied to the embeddings by default."""

from __future__ import annotations

from predictors.families.base import Family
from predictors.families.llama import llama_layout
from predictors.families.registry import register_family

register_family(
    Family(
        name="gemma",
        model_types=("gemma",),
        build=llama_layout,
        tie_word_embeddings=True,
        ia3_target_modules=("q_proj", "v_proj", "down_proj"),  # peft 0.21 scales queries, not keys, here
    )
)
