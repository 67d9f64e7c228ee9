# ruff: noqa: N803, N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Predict a continuous quantity, then map it to accuracy in a separate fitted step.

Schaeffer et al. (2024) show that the per-sample log-likelihood of the correct answer
scales smoothly with compute while accuracy (a threshold of it) does not; the recommended
pipeline is: forecast the continuous quantity with a power law (:class:`PowerLaw`), then map
it to accuracy with a separately fitted bounded link (:class:`LoglikAccuracyMap`), as the
Densing law does with its loss-to-score sigmoid.

References
----------
.. [1] Schaeffer, R. et al. (2024). "Why Has Predicting Downstream Capabilities of Frontier
   AI Models with Scale Remained Elusive?". arXiv:2406.04391, Sec. 3 (the chain
   log p(correct) → p_vocab → p_choices → accuracy).
.. [2] Schaeffer, R., Miranda, B., Koyejo, S. (2023). "Are Emergent Abilities of Large
   Language Models a Mirage?". arXiv:2304.15004, Sec. 2 (accuracy ≈ p^L).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import BaseLaw
from .errors import ScalingInputError, check_is_fitted
from .inputs import FloatArray, require_positive

__all__ = ["LoglikAccuracyMap", "PowerLaw", "predict_two_step"]


class PowerLaw(BaseLaw):
    """Saturating power law y = E + A x^-alpha (x > 0), for the continuous quantity.

    Typical use: x = training compute (FLOPs) or parameters, y = mean negative
    log-likelihood of the correct answer (nats). Parameters ``E`` (floor), ``A``, ``alpha``.
    """

    name = "power_law"
    param_names = ("E", "A", "alpha")
    input_names = ("x",)

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        E, A, al = theta
        return np.asarray(E + A * np.exp(-al * np.log(X[:, 0])), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        require_positive(X, [0], ["x"])

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([-np.inf, 0.0, 1e-4]), np.array([np.inf, np.inf, 3.0])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        xm = float(np.median(X[:, 0]))
        E0 = float(np.min(y)) - 0.1 * float(np.ptp(y))
        return [np.array([E0, max(float(np.mean(y)) - E0, 1e-6) * xm**a, a]) for a in (0.3, 0.1, 0.6)]


class LoglikAccuracyMap(BaseLaw):
    """Accuracy from the log-likelihood of the correct answer: a floored sigmoid.

    acc(x) = chance + (ceiling - chance) · σ(k (x - x0)), with x the mean log-likelihood of
    the correct answer (nats, <= 0; higher is better) or any continuous score increasing
    with ability. Parameters ``k`` (slope, > 0) and ``x0`` (midpoint).

    Parameters
    ----------
    chance : float
        Accuracy of random guessing (lower asymptote), e.g. 0.25 for 4-way choice.
    ceiling : float
        Upper asymptote (default 1).
    """

    name = "loglik_accuracy"
    param_names = ("k", "x0")
    _numeric_options = ("chance", "ceiling")
    input_names = ("loglik",)

    def __init__(self, *, chance: float = 0.0, ceiling: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chance = chance
        self.ceiling = ceiling

    def _model(self, theta: FloatArray, X: FloatArray) -> FloatArray:
        k, x0 = theta
        z = np.clip(k * (X[:, 0] - x0), -700, 700)
        return np.asarray(self.chance + (self.ceiling - self.chance) / (1 + np.exp(-z)), dtype=float)

    def _check_domain(self, X: FloatArray, y: FloatArray | None) -> None:
        if not (0.0 <= float(self.chance) < float(self.ceiling) <= 1.0):
            raise ScalingInputError(
                f"need 0 <= chance < ceiling <= 1, got chance={self.chance}, ceiling={self.ceiling}",
                field="options.chance",
            )
        if y is not None:
            bad = np.flatnonzero((y < 0) | (y > 1))
            if bad.size:
                i = int(bad[0])
                raise ScalingInputError(
                    f"accuracy of point {i} is {y[i]!r}; must be in [0, 1]",
                    field=f"points[{i}].y",
                )

    def _bounds(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.array([1e-6, -np.inf]), np.array([np.inf, np.inf])

    def _initial_guesses(self, X: FloatArray, y: FloatArray) -> list[FloatArray]:
        x = X[:, 0]
        sc = 4.0 / max(float(np.ptp(x)), 1e-6)
        return [np.array([sc, float(np.median(x))]), np.array([sc / 4, float(np.max(x))])]

    def _start_box(self, X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        x = X[:, 0]
        sc = 20.0 / max(float(np.ptp(x)), 1e-6)
        return np.array([sc / 100, float(np.min(x))]), np.array([sc, float(np.max(x))])


def predict_two_step(continuous_law: BaseLaw, accuracy_map: BaseLaw, x: Any) -> FloatArray:
    """Accuracy at ``x`` = ``accuracy_map(continuous_law(x))`` (both fitted separately).

    ``continuous_law`` predicts the continuous quantity (e.g. log-likelihood of the right
    answer, or its negative if fitted as a loss — pass the map a matching sign).
    """
    check_is_fitted(continuous_law)
    check_is_fitted(accuracy_map)
    return accuracy_map.predict(continuous_law.predict(x))
