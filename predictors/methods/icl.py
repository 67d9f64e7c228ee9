"""In-context learning: k demonstrations in the prompt, no training.

References
----------
Brown et al. 2020, arXiv:2005.14165; cost grows with shots × demonstration length
(Wang et al. 2025, COSMOS, arXiv:2505.01449, Sec. 3, Eq. 3).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["IclConfig", "demonstration_cost_terms"]


class IclConfig(MethodConfig):
    name: Literal["icl"] = "icl"
    shots: int = Field(8, ge=1, le=1024, description="Demonstrations per query (k).")
    demonstration_tokens: int = Field(
        128, ge=1, le=1_000_000, description="Mean tokens per demonstration (input + answer)."
    )
    selection: Literal["random", "fixed"] = Field("random", description="How demonstrations are drawn.")


def demonstration_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """The k demonstrations lengthen every prompt by k × their mean length (COSMOS Sec. 4.3)."""
    return CostTerms(prompt_tokens=int(config.shots) * int(config.demonstration_tokens))


register_method(
    MethodSpec(
        name="icl",
        config_cls=IclConfig,
        kind="inference",
        summary="k demonstrations in the prompt of the frozen model.",
        reference="Brown et al. 2020, arXiv:2005.14165",
        trainable_params=lambda arch, config: 0,
        worker_plan=lambda config: {"train": False, "shots": config.shots, "retriever": config.selection},
        cost_terms=demonstration_cost_terms,
        demonstrations=("random", "fixed"),
        examples=({"shots": 4},),
    )
)
