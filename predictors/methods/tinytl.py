"""TinyTL-style tuning: frozen weights, trained biases, and a lite residual branch beside chosen layers.

References
----------
Cai et al. 2020, "TinyTL: Reduce Memory, Not Parameters for Efficient On-Device Learning", arXiv:2007.11622,
Sec. 3 (weights frozen, so their activations need not be kept; biases and small lite-residual modules train).
Here, for decoder layers, the lite residual of each targeted linear layer is the bottleneck
y = W0·x + b + U·ReLU(D·x) (D: r × d_in, U: d_out × r zero-initialised), built by the worker from this
module's builder (forward hooks; no peft tuner), with every bias of the model trained (BitFit's set, none on
bias-free families such as Llama).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.bitfit import bias_params
from predictors.methods.registry import register_method

__all__ = ["TinytlConfig", "add_lite_residuals"]


class TinytlConfig(LinearTargetsConfig):
    """TinyTL-style parameters: the layers that get a lite residual and its bottleneck width."""

    name: Literal["tinytl"] = "tinytl"
    rank: int = Field(16, ge=1, le=4096, description="Bottleneck width r of each lite residual.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["down_proj"],
        description='Linear layers that get a lite residual (suffix match, as peft does), or "all-linear".',
    )


def tinytl_trainable_params(arch: Architecture, config: Any) -> int:
    """The biases plus, per layer and targeted matrix, r·(d_in + d_out) lite-residual weights."""
    modules = linear_targets(arch, config, method="TinyTL")
    residual = arch.num_hidden_layers * sum(int(config.rank) * (m.in_features + m.out_features) for m in modules)
    return bias_params(arch) + residual


def tinytl_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A rank-r bottleneck beside each targeted matrix (LoRA's products; the ReLU keeps the bottleneck that the
    up projection keeps anyway), bias gradients, and the biases as trained base weights."""
    modules = linear_targets(arch, config, method="TinyTL")
    return CostTerms(
        adapter_ranks=tuple((m.name, int(config.rank)) for m in modules),
        biases_trainable=True,
        base_params_trained=bias_params(arch),
    )


def _lite_residual(module: Any, args: tuple[Any, ...], output: Any) -> Any:
    x = args[0].to(module.lite_residual_down.weight.dtype)
    return output + module.lite_residual_up(module.lite_residual_down(x).relu()).to(output.dtype)


def add_lite_residuals(model: Any, *, target_modules: list[str] | str, rank: int) -> Any:
    """Give every targeted linear layer of ``model`` a lite residual (fp32, the up projection zeroed) through a
    forward hook; the new weights train (the worker froze the rest before calling this). Uses the model's own
    linear class, so this module imports no torch."""
    head = model.get_output_embeddings()
    wanted = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    for name, module in list(model.named_modules()):
        if not hasattr(module, "in_features") or module is head:
            continue
        if target_modules != "all-linear" and not any(name == t or name.endswith("." + t) for t in wanted):
            continue
        device = module.weight.device
        down = type(module)(module.in_features, rank, bias=False, device=device)
        up = type(module)(rank, module.out_features, bias=False, device=device)
        up.weight.data.zero_()
        module.add_module("lite_residual_down", down)
        module.add_module("lite_residual_up", up)
        module.register_forward_hook(_lite_residual)
    return model


def tinytl_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "builder": lambda model: add_lite_residuals(model, target_modules=config.target_modules, rank=config.rank),
        "trainable": {"name_suffixes": [".bias"]},
    }


register_method(
    MethodSpec(
        name="tinytl",
        config_cls=TinytlConfig,
        kind="finetune",
        summary="Frozen weights; biases and small lite-residual bottlenecks beside chosen layers train.",
        reference="Cai et al. 2020, arXiv:2007.11622",
        trainable_params=tinytl_trainable_params,
        worker_plan=tinytl_worker_plan,
        cost_terms=tinytl_cost_terms,
        examples=({"rank": 8, "target_modules": "all-linear"},),
    )
)
