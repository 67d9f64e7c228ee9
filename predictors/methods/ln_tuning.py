"""LN tuning: train only the normalisation layers' parameters.

References
----------
Zhao et al. 2024, "Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning",
arXiv:2312.11420 (peft ``LNTuningConfig``).
"""

from __future__ import annotations

from typing import Any, Literal

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["LnTuningConfig"]


class LnTuningConfig(MethodConfig):
    name: Literal["ln_tuning"] = "ln_tuning"


def ln_tuning_trainable_params(arch: Architecture, config: Any) -> int:
    per_norm = arch.norm_params_per_norm
    if per_norm == 0:
        raise InvalidInputError(
            "method.name", f"ln_tuning needs parametric norms; this {arch.model_type} model's norms have no weights"
        )
    return (arch.num_hidden_layers * arch.norms_per_layer + 1) * per_norm


def ln_tuning_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Norm weights train: input gradients run through every layer, no weight-gradient matmuls."""
    ln_tuning_trainable_params(arch, config)  # raises on non-parametric norms
    return CostTerms(norms_trainable=True, adapter_params_are_new=False)


register_method(
    MethodSpec(
        name="ln_tuning",
        config_cls=LnTuningConfig,
        kind="finetune",
        summary="Train only the LayerNorm/RMSNorm weights (and biases).",
        reference="Zhao et al. 2024, arXiv:2312.11420",
        trainable_params=ln_tuning_trainable_params,
        cost_terms=ln_tuning_cost_terms,
        # every norm module, as counted above: peft's LN-tuning defaults differ by family (Qwen2: only
        # post_attention_layernorm), so the worker selects norms itself
        worker_plan=lambda config: {"train": True, "trainable": {"module_types": ["norm"]}},
    )
)
