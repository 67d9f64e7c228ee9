"""QLoRA: LoRA over a 4-bit NF4-quantised frozen base.

References
----------
Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", arXiv:2305.14314, Sec. 3
(NF4 storage, double quantisation of the block constants; adapters in 16/32-bit).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodSpec
from predictors.methods.lora import LoraConfig, lora_cost_terms, lora_trainable_params, lora_worker_plan
from predictors.methods.registry import register_method

__all__ = ["QloraConfig"]


class QloraConfig(LoraConfig):
    """LoRA's parameters plus the quantisation of the frozen base."""

    name: Literal["qlora"] = "qlora"  # type: ignore[assignment]
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type of the frozen base weights.")
    double_quant: bool = Field(True, description="Quantise the quantisation constants too (QLoRA Sec. 3).")
    block_size: int = Field(64, ge=16, le=4096, description="Weights per quantisation block.")


def qlora_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """LoRA's terms over a base stored in 4 bits (``quant_type``), whatever ``training.precision`` says."""
    lora = lora_cost_terms(arch, config)
    return CostTerms(
        adapter_ranks=lora.adapter_ranks,
        quantized_base=str(config.quant_type),
        double_quant=bool(config.double_quant),
        assumptions=lora.assumptions,
    )


def qlora_worker_plan(config: Any) -> dict[str, Any]:
    plan = lora_worker_plan(config)
    plan["quantization"] = {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": config.quant_type,
        "bnb_4bit_use_double_quant": config.double_quant,
        "requires_cuda": True,
    }
    return plan


register_method(
    MethodSpec(
        name="qlora",
        config_cls=QloraConfig,
        kind="finetune",
        summary="LoRA adapters over a 4-bit (NF4) quantised frozen base; CUDA only.",
        reference="Dettmers et al. 2023, arXiv:2305.14314",
        trainable_params=lora_trainable_params,
        worker_plan=qlora_worker_plan,
        cost_terms=qlora_cost_terms,
        parent="lora",
        examples=({"rank": 16}, {"rank": 8, "double_quant": False}),
    )
)
