# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Fine-tuning data laws fitted from a few probe fine-tunes.

References
----------
.. [1] Lin, H., Huang, B., Ye, H. et al. (2024). "Selecting Large Language Model to Fine-tune
   via Rectified Scaling Law". arXiv:2402.02314, Eq. (2) / Sec. 3: the rectified scaling
   law L(D) = B / (D_l + D^beta) + E, with D_l the "pre-learned data size".
.. [2] Zhang, B., Liu, Z., Cherry, C., Firat, O. (2024). "When Scaling Meets LLM Finetuning:
   The Effect of Data, Model and Finetuning Method". arXiv:2402.17193 (ICLR 2024), Eq. (1):
   multiplicative joint law L̂(X, D_f) = A · X^-alpha · D_f^-beta + E, with X the scaled
   factor (model size, pre-training tokens or PET parameters) and D_f fine-tuning examples.
"""

from __future__ import annotations

import numpy as np

from .base import BaseLaw
from .errors import ScalingInputError
from .inputs import FloatArray, require_positive

__all__ = ["JointFinetuneLaw", "RectifiedDataLaw"]


class RectifiedDataLaw(BaseLaw):
    """Rectified fine-tuning data law L(D) = B / (D_l + D^beta) + E (Lin et al. 2024).

    ``x``: number of fine-tuning examples D (one number per point, >= 0); ``y``: test loss
    (or any decreasing error). Parameters: ``B`` (> 0), ``D_l`` (pre-learned data size,
    examples, >= 0), ``beta`` (exponent), ``E`` (irreducible loss).

    With 2-3 probe fine-tunes, hold some parameters fixed, e.g.
    ``fixed={"E": 0.0, "D_l": 0.0}`` (plain power law) — the fit otherwise raises
    :class:`~scaling.errors.ScalingInputError` giving the point and parameter counts.
    """

    name = "rectified_data"
    param_names = ("B", "D_l", "beta", "E")
    input_names = ("n_examples",)

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        B, Dl, be, E = theta
        D = X[:, 0]
        with np.errstate(divide="ignore"):
            Dp = np.where(D > 0, np.exp(be * np.log(np.where(D > 0, D, 1.0))), 0.0)
        return np.asarray(B / (Dl + Dp) + E, dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        bad = np.flatnonzero(X[:, 0] < 0)
        if bad.size:
            i = int(bad[0])
            raise ScalingInputError(
                f"n_examples of point {i} is {float(X[i, 0])}; it must be >= 0",
                field=f"points[{i}].x",
            )
        if y is not None:
            require_positive(y.reshape(-1, 1), [0], ["y"], what="y")

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([1e-12, 0.0, 1e-3, 0.0]), np.array([np.inf, np.inf, 3.0, float(np.min(y))])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        D = X[:, 0]
        Dm = max(float(np.median(D)), 1.0)
        E0 = 0.5 * float(np.min(y))
        out = []
        for be in (0.5, 0.3, 1.0):
            for frac in (0.1, 1.0):
                Dl = frac * Dm**be
                B = (float(np.mean(y)) - E0) * (Dl + Dm**be)
                out.append(np.array([B, Dl, be, E0]))
        return out

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return (
            np.array([g[0] / 30, 0.0, 0.1, 0.0]),
            np.array([g[0] * 30, g[1] * 30 + 1, 1.5, float(np.min(y))]),
        )


class JointFinetuneLaw(BaseLaw):
    """Multiplicative joint fine-tuning law L̂(X, D_f) = A X^-alpha D_f^-beta + E (Zhang et al.).

    ``x``: ``{"factor": [...], "n_examples": [...]}`` or an ``(n_points, 2)`` array, where
    ``factor`` is the scaled quantity X (model parameters, pre-training tokens or PET
    parameters, > 0) and ``n_examples`` the fine-tuning examples D_f (> 0); ``y``: test loss.
    """

    name = "joint_finetune"
    param_names = ("A", "alpha", "beta", "E")
    input_names = ("factor", "n_examples")

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        A, al, be, E = theta
        return np.asarray(A * np.exp(-al * np.log(X[:, 0]) - be * np.log(X[:, 1])) + E, dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        require_positive(X, [0, 1], self.input_names)
        if y is not None:
            require_positive(y.reshape(-1, 1), [0], ["y"], what="y")

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([0.0, -1.0, -1.0, 0.0]), np.array([np.inf, 3.0, 3.0, float(np.min(y))])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        E0 = 0.5 * float(np.min(y))
        xm, dm = float(np.median(X[:, 0])), float(np.median(X[:, 1]))
        out = []
        for al, be in ((0.1, 0.1), (0.3, 0.05), (0.05, 0.3)):
            out.append(np.array([(float(np.mean(y)) - E0) * xm**al * dm**be, al, be, E0]))
        return out

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self._initial_guesses(X, y)[0]
        return (
            np.array([g[0] / 30, 0.0, 0.0, 0.0]),
            np.array([g[0] * 30, 0.8, 0.8, float(np.min(y))]),
        )
