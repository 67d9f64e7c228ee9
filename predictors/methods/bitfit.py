"""BitFit: train only the bias terms.

References
----------
Ben Zaken et al. 2022, "BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based Masked
Language-models", arXiv:2106.10199, Sec. 2 (all bias vectors, LayerNorm's included).
"""

from __future__ import annotations

from typing import Any, Literal

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["BitfitConfig", "bias_params"]


class BitfitConfig(MethodConfig):
    name: Literal["bitfit"] = "bitfit"


def bias_params(arch: Architecture) -> int:
    """Every bias vector: linear layers (per expert), norms (per layer and final), a biased lm_head."""
    linear = sum(m.out_features * m.n_experts for m in arch.linear_modules if m.bias)
    norms = arch.hidden_size * arch.norms_per_layer if arch.norm_bias else 0
    total = arch.num_hidden_layers * (linear + norms)
    total += arch.hidden_size if arch.norm_bias else 0
    return total + (arch.vocab_size if arch.lm_head_bias else 0)


def bitfit_trainable_params(arch: Architecture, config: Any) -> int:
    """Every bias vector (:func:`bias_params`); an error naming the method on a bias-free model."""
    total = bias_params(arch)
    if total == 0:
        raise InvalidInputError(
            "method.name",
            f"bitfit trains bias terms only, and this {arch.model_type} model has none (bias-free linear "
            "layers and norms): nothing would train; choose ln_tuning or lora instead",
        )
    return total


def bitfit_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Bias gradients are sums over tokens (no matmul); input gradients run through every layer."""
    bitfit_trainable_params(arch, config)  # raises on bias-free models
    return CostTerms(biases_trainable=True, adapter_params_are_new=False)


register_method(
    MethodSpec(
        name="bitfit",
        config_cls=BitfitConfig,
        kind="finetune",
        summary="Train only bias vectors; impossible on bias-free models (Llama, Mistral, Gemma…).",
        reference="Ben Zaken et al. 2022, arXiv:2106.10199",
        trainable_params=bitfit_trainable_params,
        cost_terms=bitfit_cost_terms,
        worker_plan=lambda config: {"train": True, "trainable": {"name_suffixes": [".bias"]}},
    )
)
