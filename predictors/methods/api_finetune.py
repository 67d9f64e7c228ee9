"""A provider-hosted fine-tune (OpenAI- or Together-style), priced per training token.

Nothing trains on our workers; the cost model prices it from the provider's published per-token
rates (editable data).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from predictors.methods.base import MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["ApiFinetuneConfig"]


class ApiFinetuneConfig(MethodConfig):
    name: Literal["api_finetune"] = "api_finetune"
    provider: Literal["openai", "together"] = Field("openai", description="Who runs the fine-tune.")
    provider_model: str | None = Field(
        None, max_length=200, description="The provider's model id, when it differs from the catalog id."
    )
    adapter: Literal["lora", "full"] = Field("lora", description="What the provider trains (Together offers both).")


register_method(
    MethodSpec(
        name="api_finetune",
        config_cls=ApiFinetuneConfig,
        kind="api",
        summary="A provider-hosted fine-tune priced per training token.",
        reference="OpenAI / Together fine-tuning pricing pages",
        trainable_params=lambda arch, config: 0,
        worker_plan=lambda config: {"train": False, "provider": config.provider},
        api_pricing=lambda config: {
            "provider": config.provider,
            "provider_model": config.provider_model,
            "adapter": config.adapter,
        },
        examples=({"provider": "together"},),
    )
)
