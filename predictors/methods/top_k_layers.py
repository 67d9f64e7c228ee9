"""Top-k layers: fine-tune only the last k decoder blocks; the rest stays frozen.

References
----------
Lee et al. 2019, "What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning",
arXiv:1911.03090.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, count_parameters
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["TopKLayersConfig"]


class TopKLayersConfig(MethodConfig):
    name: Literal["top_k_layers"] = "top_k_layers"
    layers: int = Field(2, ge=1, le=1024, description="Number k of final decoder blocks that train.")


def top_k_layers_trainable_params(arch: Architecture, config: Any) -> int:
    if config.layers > arch.num_hidden_layers:
        raise InvalidInputError(
            "method.layers", f"must not exceed the model's {arch.num_hidden_layers} layers, got {config.layers}"
        )
    return int(config.layers) * count_parameters(arch).layer_params


def top_k_layers_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """The last k blocks train in full; backpropagation stops at the lowest of them."""
    top_k_layers_trainable_params(arch, config)  # raises when k exceeds the depth
    return CostTerms(top_layers_trainable=int(config.layers), adapter_params_are_new=False)


register_method(
    MethodSpec(
        name="top_k_layers",
        config_cls=TopKLayersConfig,
        kind="finetune",
        summary="Train the last k decoder blocks; backpropagation stops below them.",
        reference="Lee et al. 2019, arXiv:1911.03090",
        trainable_params=top_k_layers_trainable_params,
        cost_terms=top_k_layers_cost_terms,
        worker_plan=lambda config: {
            "train": True,
            "trainable": {"last_layers": config.layers, "last_layers_field": "layers"},
        },
        calibration_family="top_k_layers",
        examples=({"layers": 2},),
    )
)
