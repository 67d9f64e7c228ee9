"""Adaptation methods (``/v1/methods``): names and their parameter JSON Schemas, from the registry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["MethodPublic"]


class MethodPublic(BaseModel):
    name: str
    kind: str = Field(
        description="finetune (trains on a worker), inference (prompting only) or api (provider fine-tune)."
    )
    summary: str
    reference: str
    parent: str | None = Field(None, description="The method this one is a variant of (dora and qlora: lora).")
    parameter_schema: dict[str, Any]
    defaults: dict[str, Any]
