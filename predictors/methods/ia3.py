"""IA3: learned vectors rescaling keys, values and the feed-forward input.

References
----------
Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
Learning", arXiv:2205.05638, Sec. 3.3 (l_k, l_v ∈ R^{d_k}, l_ff ∈ R^{d_ff}).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from predictors.architecture import Architecture
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, MethodConfig, MethodSpec, match_target_modules
from predictors.methods.registry import register_method

__all__ = ["Ia3Config"]


class Ia3Config(MethodConfig):
    """IA3 parameters; ``None`` targets take peft's default for the model family (``Architecture.ia3_*``)."""

    name: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = Field(
        None, description="Modules whose activations get a learned scale (default: keys, values, FFN output)."
    )
    feedforward_modules: list[str] | None = Field(
        None, description="Subset of target_modules scaled on their input (the FFN down projection)."
    )

    @model_validator(mode="after")
    def _feedforward_subset(self) -> Ia3Config:
        if self.feedforward_modules is not None and self.target_modules is not None:
            extra = set(self.feedforward_modules) - set(self.target_modules)
            if extra:
                raise ValueError(
                    f"feedforward_modules must be a subset of target_modules; not targeted: {sorted(extra)}"
                )
        return self


def ia3_targets(arch: Architecture, config: Any) -> tuple[list[str], list[str]]:
    default_targets, default_ff = list(arch.ia3_target_modules), list(arch.ia3_feedforward_modules)
    targets = config.target_modules if config.target_modules is not None else default_targets
    ff = (
        config.feedforward_modules
        if config.feedforward_modules is not None
        else (default_ff if config.target_modules is None else [])
    )
    return targets, ff


def ia3_trainable_params(arch: Architecture, config: Any) -> int:
    """One vector per targeted module: d_out for attention targets, d_in for feed-forward ones."""
    targets, ff = ia3_targets(arch, config)
    modules = match_target_modules(arch, targets)
    if not modules:
        raise InvalidInputError(
            "method.target_modules", f"{targets!r} matches no linear layer of a {arch.model_type} model"
        )
    ff_modules = {m.name for m in match_target_modules(arch, ff)} if ff else set()
    per_layer = sum((m.in_features if m.name in ff_modules else m.out_features) * m.n_experts for m in modules)
    return arch.num_hidden_layers * per_layer


def ia3_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """Elementwise scales (no matmul FLOPs); the frozen model still back-propagates to the first layer."""
    targets, ff = ia3_targets(arch, config)
    modules = match_target_modules(arch, targets)
    ff_names = {m.name for m in match_target_modules(arch, ff)} if ff else set()
    return CostTerms(
        scaled_modules=tuple(m.name for m in modules if m.name not in ff_names),
        scaled_input_modules=tuple(m.name for m in modules if m.name in ff_names),
    )


def ia3_worker_plan(config: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if config.target_modules is not None:
        kwargs["target_modules"] = config.target_modules
    if config.feedforward_modules is not None:
        kwargs["feedforward_modules"] = config.feedforward_modules
    return {"train": True, "peft_config": "IA3Config", "peft_kwargs": kwargs}


register_method(
    MethodSpec(
        name="ia3",
        config_cls=Ia3Config,
        kind="finetune",
        summary="Learned rescaling vectors on keys, values and feed-forward activations.",
        reference="Liu et al. 2022, arXiv:2205.05638",
        trainable_params=ia3_trainable_params,
        worker_plan=ia3_worker_plan,
        cost_terms=ia3_cost_terms,
    )
)
