"""FourierFT: the weight update as the inverse 2-D DFT of n trained spectral coefficients at fixed random spots.

References
----------
Gao et al. 2024, "Parameter-Efficient Fine-Tuning with Discrete Fourier Transform", arXiv:2405.03003, Eq. 2-3
(ΔW = α·Re(IDFT2(F)), F zero but at n random entries that train: n parameters per matrix), and peft 0.21
``FourierFTModel``: each forward scatters the coefficients into a dense d_out × d_in spectrum, runs
``torch.fft.ifft2`` (not a matmul: not in FlopCounterMode's count, nor ours) and adds ``F.linear(x, ΔW)``. The
spectral positions are a plain tensor per layer on the host (not a buffer), copied to the device each forward.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from predictors.architecture import Architecture, LinearModule
from predictors.errors import InvalidInputError
from predictors.methods.base import CostTerms, LinearTargetsConfig, MethodSpec, linear_targets
from predictors.methods.registry import register_method

__all__ = ["FourierftConfig"]


class FourierftConfig(LinearTargetsConfig):
    """FourierFT parameters, with peft's names and defaults."""

    name: Literal["fourierft"] = "fourierft"
    n_frequency: int = Field(1000, ge=1, le=10**8, description="Trained spectral coefficients per adapted matrix.")
    scaling: float = Field(150.0, gt=0, le=1e6, description="Scale α of the inverse transform.")
    random_loc_seed: int = Field(777, ge=0, le=2**31 - 1, description="Seed of the coefficients' positions.")


def _modules(arch: Architecture, config: Any) -> list[LinearModule]:
    modules = linear_targets(arch, config, method="FourierFT")
    for m in modules:
        if int(config.n_frequency) > m.in_features * m.out_features:
            raise InvalidInputError(
                "method.n_frequency",
                f"must not exceed {m.name}'s {m.out_features} × {m.in_features} entries, got {config.n_frequency}",
            )
    return modules


def fourierft_trainable_params(arch: Architecture, config: Any) -> int:
    """n coefficients per layer and adapted matrix."""
    return arch.num_hidden_layers * len(_modules(arch, config)) * int(config.n_frequency)


def fourierft_cost_terms(arch: Architecture, config: Any) -> CostTerms:
    """A dense ΔW per adapted module (x·ΔWᵀ per token, ΔW kept for the backward); the transform itself is
    memory-bound and not counted."""
    return CostTerms(dense_adapters=tuple(m.name for m in _modules(arch, config)))


def fourierft_worker_plan(config: Any) -> dict[str, Any]:
    return {
        "train": True,
        "peft_config": "FourierFTConfig",
        "peft_kwargs": {
            "n_frequency": config.n_frequency,
            "scaling": config.scaling,
            "random_loc_seed": config.random_loc_seed,
            "target_modules": config.target_modules,
        },
    }


register_method(
    MethodSpec(
        name="fourierft",
        config_cls=FourierftConfig,
        kind="finetune",
        summary="Weight update as the inverse 2-D DFT of a few trained spectral coefficients.",
        reference="Gao et al. 2024, arXiv:2405.03003",
        trainable_params=fourierft_trainable_params,
        worker_plan=fourierft_worker_plan,
        cost_terms=fourierft_cost_terms,
        examples=({"n_frequency": 200, "target_modules": "all-linear"},),
    )
)
