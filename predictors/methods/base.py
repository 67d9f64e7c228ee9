"""What every adaptation method declares: its parameter schema and its parameter accounting.

A method module (``lora.py``, ``icl.py``, …) subclasses :class:`MethodConfig` for its parameters and
ends with one ``register_method(...)`` call (see :mod:`predictors.methods.registry`). The cost model,
request validation, ``GET /v1/methods`` and the worker dispatch all read the registry, so adding a
method touches one module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from predictors.architecture import Architecture, LinearModule

__all__ = [
    "MethodConfig",
    "MethodSpec",
    "TrainableParamsFn",
    "WorkerPlanFn",
    "match_target_modules",
]


class MethodConfig(BaseModel):
    """Base of every method's parameters; ``name`` is the registry key (a Literal in each subclass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


TrainableParamsFn = Callable[[Architecture, Any], int]
"""(architecture, config) -> trainable parameter count (adapter weights for PEFT methods)."""

WorkerPlanFn = Callable[[Any], dict[str, Any]]
"""config -> a plain description of what a worker builds (peft config kwargs, or ``{"train": False}``)."""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A registered adaptation method.

    ``kind`` says how the method adapts: ``finetune`` trains weights on a worker, ``inference`` only
    prompts the frozen model (zero-shot, ICL, RAG-ICL), ``api`` is a provider-hosted fine-tune.
    ``base_weights_trainable`` is true only for full fine-tuning (its gradients and optimizer states
    cover the base); ``parent`` names the method a variant reuses (DoRA and QLoRA reuse LoRA).
    """

    name: str
    config_cls: type[MethodConfig]
    kind: Literal["finetune", "inference", "api"]
    summary: str
    reference: str
    trainable_params: TrainableParamsFn
    worker_plan: WorkerPlanFn
    base_weights_trainable: bool = False
    parent: str | None = None

    def parse(self, data: dict[str, Any]) -> MethodConfig:
        return self.config_cls.model_validate(data)

    def default_config(self) -> MethodConfig:
        return self.config_cls.model_validate({"name": self.name})

    def json_schema(self) -> dict[str, Any]:
        return self.config_cls.model_json_schema()


def match_target_modules(arch: Architecture, targets: list[str] | str) -> list[LinearModule]:
    """The decoder-layer linear modules a peft ``target_modules`` value selects.

    peft matches a module when its qualified name equals a target or ends with ``"." + target``;
    ``"all-linear"`` selects every linear layer except the output head. Matching our module
    inventory (qualified suffixes such as ``attn.c_proj``) the same way gives peft's selection.
    """
    if targets == "all-linear" or targets == ["all-linear"]:
        return list(arch.linear_modules)
    wanted = [targets] if isinstance(targets, str) else list(targets)
    return [
        module
        for module in arch.linear_modules
        if any(module.name == t or module.name.endswith("." + t) for t in wanted)
    ]
