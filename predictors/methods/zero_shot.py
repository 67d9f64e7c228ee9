"""Zero-shot: prompt the frozen model with the task alone (the COSMOS d = 0 point)."""

from __future__ import annotations

from typing import Literal

from predictors.methods.base import MethodConfig, MethodSpec
from predictors.methods.registry import register_method

__all__ = ["ZeroShotConfig"]


class ZeroShotConfig(MethodConfig):
    name: Literal["zero_shot"] = "zero_shot"


register_method(
    MethodSpec(
        name="zero_shot",
        config_cls=ZeroShotConfig,
        kind="inference",
        summary="The frozen model answers with no demonstrations.",
        reference="Brown et al. 2020, arXiv:2005.14165",
        trainable_params=lambda arch, config: 0,
        worker_plan=lambda config: {"train": False, "shots": 0},
        demonstrations=(),
    )
)
