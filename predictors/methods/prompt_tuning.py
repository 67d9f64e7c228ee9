"""Prompt tuning: trained soft-prompt embeddings prepended to the input.

References
----------
Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning", arXiv:2104.08691,
Sec. 2 (P_e ∈ R^{p×e}: p virtual tokens of the embedding width).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["PromptTuningConfig"]


class PromptTuningConfig(MethodConfig):
    name: Literal["prompt_tuning"] = "prompt_tuning"
    num_virtual_tokens: int = Field(20, ge=1, le=4096, description="Soft-prompt length p in tokens.")


def prompt_tuning_trainable_params(arch: Architecture, config: Any) -> int:
    return int(config.num_virtual_tokens) * arch.hidden_size


def prompt_tuning_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """p virtual tokens lengthen every sequence; the gradient must reach the input embeddings (full backward)."""
    return CostTerms(input_virtual_tokens=int(config.num_virtual_tokens))


register_method(
    MethodSpec(
        name="prompt_tuning",
        config_cls=PromptTuningConfig,
        kind="finetune",
        summary="Trained soft-prompt embeddings; the model is frozen.",
        reference="Lester et al. 2021, arXiv:2104.08691",
        trainable_params=prompt_tuning_trainable_params,
        cost_terms=prompt_tuning_cost_terms,
        worker_plan=lambda config: {
            "train": True,
            "peft_config": "PromptTuningConfig",
            "peft_kwargs": {"num_virtual_tokens": config.num_virtual_tokens},
        },
        examples=({"num_virtual_tokens": 20},),
    )
)
