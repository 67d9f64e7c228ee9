# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Chinchilla loss law L(N, D) = E + A/N^alpha + B/D^beta and compute-optimal allocation.

References
----------
.. [1] Hoffmann, J. et al. (2022). "Training Compute-Optimal Large Language Models".
   arXiv:2203.15556, Eq. (2) (parametric loss), Eq. (4) (efficient frontier, Approach 3),
   Table A3 fitted constants E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import BaseLaw
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, require_positive

__all__ = ["ChinchillaLaw", "compute_optimal_allocation"]


class ChinchillaLaw(BaseLaw):
    """Parametric pre-training loss L(N, D) = E + A/N^alpha + B/D^beta.

    ``x`` is ``{"n_params": [...], "n_tokens": [...]}``, a list of such per-point dicts, or an
    ``(n_points, 2)`` array with columns (N = parameters, D = training tokens); ``y`` is the
    loss in nats per token. Parameters: ``E`` (irreducible loss, nats), ``A``, ``B``,
    ``alpha``, ``beta`` (dimensionless exponents).

    Notes
    -----
    Fitted by robust least squares on the loss itself (the paper fits log-loss with a
    Huber loss, delta=1e-3, via L-BFGS; choose ``loss="huber"`` with a small ``f_scale`` to
    mimic that). Starting points follow the paper's grid idea: several (alpha, beta) pairs.

    References
    ----------
    .. [1] Hoffmann et al. (2022), arXiv:2203.15556, Eq. (2), Sec. 3.3.
    """

    name = "chinchilla"
    param_names = ("E", "A", "B", "alpha", "beta")
    input_names = ("n_params", "n_tokens")

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        E, A, B, a, b = theta
        lnN, lnD = np.log(X[:, 0]), np.log(X[:, 1])
        out: FloatArray = E + A * np.exp(-a * lnN) + B * np.exp(-b * lnD)
        return out

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        require_positive(X, [0, 1], self.input_names)
        if y is not None:
            require_positive(y.reshape(-1, 1), [0], ["y"], what="y")

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (
            np.array([0.0, 0.0, 0.0, 1e-3, 1e-3]),
            np.array([float(np.max(y)), np.inf, np.inf, 3.0, 3.0]),
        )

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        E0 = 0.8 * float(np.min(y))
        rest = max(float(np.mean(y)) - E0, 1e-6)
        nN, nD = float(np.median(X[:, 0])), float(np.median(X[:, 1]))
        out = []
        for a, b in ((0.34, 0.28), (0.5, 0.5), (0.2, 0.2), (0.1, 0.6), (0.6, 0.1)):
            out.append(np.array([E0, rest / 2 * nN**a, rest / 2 * nD**b, a, b]))
        return out

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return (
            np.array([0.0, g[1] / 30, g[2] / 30, 0.05, 0.05]),
            np.array([float(np.min(y)), g[1] * 30, g[2] * 30, 1.0, 1.0]),
        )

    def compute_optimal(self, compute_flops: Any) -> tuple[FloatArray, FloatArray]:
        """Compute-optimal ``(n_params, n_tokens)`` for budgets ``compute_flops`` (C = 6ND)."""
        check_is_fitted(self)
        return compute_optimal_allocation(self.params_, compute_flops)


def compute_optimal_allocation(params: Mapping[str, float], compute_flops: Any) -> tuple[FloatArray, FloatArray]:
    """Loss-minimising split of a FLOP budget under C = 6·N·D (Hoffmann et al. Eq. 4).

    N_opt(C) = G·(C/6)^a and D_opt(C) = G^-1·(C/6)^b with
    G = (alpha·A / (beta·B))^(1/(alpha+beta)), a = beta/(alpha+beta), b = alpha/(alpha+beta).

    Parameters
    ----------
    params : mapping
        Chinchilla parameters ``A``, ``B``, ``alpha``, ``beta`` (``E`` is not needed).
    compute_flops : float or array-like
        Training budgets in FLOPs (> 0).

    Returns
    -------
    n_params, n_tokens : ndarray
        Optimal parameter count and token count, each shaped like ``compute_flops``.

    References
    ----------
    .. [1] Hoffmann et al. (2022), arXiv:2203.15556, Eq. (4) and Appendix D.2.
    """
    try:
        A, B, a, b = (float(params[k]) for k in ("A", "B", "alpha", "beta"))
    except KeyError as exc:
        raise ScalingInputError(f"chinchilla params missing {exc}", field="params") from exc
    if min(A, B, a, b) <= 0:
        raise ScalingInputError("A, B, alpha and beta must be > 0 for a compute-optimal allocation", field="params")
    C = np.asarray(compute_flops, dtype=float)
    if not np.all(np.isfinite(C)) or np.any(C <= 0):
        raise ScalingInputError("compute_flops must be finite and > 0", field="x")
    G = (a * A / (b * B)) ** (1.0 / (a + b))
    ea, eb = b / (a + b), a / (a + b)
    n_opt = G * (C / 6.0) ** ea
    d_opt = (C / 6.0) ** eb / G
    if not (math.isfinite(float(np.max(n_opt))) and math.isfinite(float(np.max(d_opt)))):
        raise ScalingInputError("allocation overflowed for these budgets", field="x")
    return n_opt, d_opt
