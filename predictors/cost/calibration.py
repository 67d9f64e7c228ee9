"""Efficiency calibration: measured step time from roofline terms, fitted per method family.

A roofline gives two ideal times for a step: ``ideal_compute_s`` (matmul FLOPs at the dense peak) and
``ideal_memory_s`` (bytes that must cross HBM at its peak bandwidth). Real steps are slower: kernels do
not reach peak, non-matmul work (norms, softmax, the optimizer) is memory-bound, and every block costs a
few kernel launches (small models are launch-bound). The calibration models a measured time as

    t = a_family · ideal_compute_s + b_family · ideal_memory_s + c_family · kernel_launches

with coefficients fitted jointly (bounded: a, b ≥ 1 since no step beats the dense peak or the HBM
bandwidth, so the prediction never drops below the roofline; c ≥ 0) by least squares on *relative* residuals (each row
weighted by 1/t, so small and large models count alike): one ``a`` per family with enough rows, ``b``
and ``c`` shared (they describe the device, not the method). ``1/a`` is the family's achieved fraction
of peak on matmuls (MFU); families without rows use the pooled ``"*"`` fit.

References
----------
Williams, Waterman, Patterson 2009, "Roofline: An Insightful Visual Performance Model", CACM 52(4).
Chowdhery et al. 2022, "PaLM", arXiv:2204.02311, App. B (model FLOPs utilisation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear

from predictors.errors import InvalidInputError

__all__ = [
    "DEFAULT_CALIBRATION_FILE",
    "CalibrationRow",
    "EfficiencyCalibration",
    "NotFittedError",
    "default_calibration",
    "method_family",
]

DEFAULT_CALIBRATION_FILE = "default_calibration.json"
_LAUNCH_SCALE = 1e-5  # column scaling so the three coefficients are of similar size in the solve

_FAMILIES = {
    "full": "full",
    "lora": "lora",
    "qlora": "lora",
    "dora": "lora",
    "top_k_layers": "top_k_layers",
    "prefill": "prefill",
    "decode": "decode",
}


def method_family(method: str) -> str:
    """The calibration family of a method name (frozen-base methods without their own family use ``lora``)."""
    return _FAMILIES.get(method, "lora")


class NotFittedError(ValueError):
    """``predict`` was called before ``fit``."""


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """One measured step: its family, roofline terms and the measured seconds."""

    family: str
    ideal_compute_s: float
    ideal_memory_s: float
    kernel_launches: int
    measured_s: float


class EfficiencyCalibration:
    """Per-family efficiency factors fitted on measured step times (scikit-learn estimator shape).

    Parameters
    ----------
    min_rows_per_family : int
        Families with fewer rows get no compute coefficient of their own (they share ``"*"``).

    Attributes
    ----------
    coef_ : dict of str to tuple of 3 floats
        (a, b, c) per family, plus ``"*"`` fitted on every row.
    n_rows_ : dict of str to int
        Rows each family was fitted on.
    """

    def __init__(self, *, min_rows_per_family: int = 3) -> None:
        self.min_rows_per_family = min_rows_per_family

    def fit(self, rows: Iterable[CalibrationRow]) -> EfficiencyCalibration:
        data = list(rows)
        if len(data) < 3:
            raise ValueError(f"need at least 3 measured rows to fit 3 coefficients, got {len(data)}")
        for row in data:
            values = (row.ideal_compute_s, row.ideal_memory_s, row.measured_s)
            if not all(np.isfinite(v) and v >= 0 for v in values) or row.measured_s <= 0:
                raise ValueError(f"row {row} has a non-finite, negative or zero time")
        counts: dict[str, int] = {"*": len(data)}
        for row in data:
            counts[row.family] = counts.get(row.family, 0) + 1
        own = sorted(f for f, n in counts.items() if f != "*" and n >= self.min_rows_per_family)
        # joint fit: one compute coefficient per family with enough rows (the rest share "*"), shared b and c
        columns = [*own, "*"]
        x = np.zeros((len(data), len(columns) + 2))
        for i, row in enumerate(data):
            j = columns.index(row.family) if row.family in own else len(columns) - 1
            x[i, j] = row.ideal_compute_s
            x[i, -2] = row.ideal_memory_s
            x[i, -1] = row.kernel_launches * _LAUNCH_SCALE
        y = np.array([r.measured_s for r in data])
        w = 1.0 / y
        # a, b >= 1: no step beats the dense peak or the HBM bandwidth (the sum then bounds the roofline
        # max(compute, memory) from above); c >= 0
        lower = np.array([1.0] * len(columns) + [1.0, 0.0])
        sol = lsq_linear(x * w[:, None], y * w, bounds=(lower, np.inf)).x
        b, c = float(sol[-2]), float(sol[-1]) * _LAUNCH_SCALE
        coef = {family: (float(sol[j]), b, c) for j, family in enumerate(columns)}
        if not any(r.family not in own for r in data):
            coef["*"] = self._solve_pooled(data)
        self.coef_ = coef
        self.n_rows_ = counts
        return self

    @staticmethod
    def _solve_pooled(rows: list[CalibrationRow]) -> tuple[float, float, float]:
        x = np.array([[r.ideal_compute_s, r.ideal_memory_s, r.kernel_launches * _LAUNCH_SCALE] for r in rows])
        y = np.array([r.measured_s for r in rows])
        w = 1.0 / y
        sol = lsq_linear(x * w[:, None], y * w, bounds=(np.array([1.0, 1.0, 0.0]), np.inf)).x
        return float(sol[0]), float(sol[1]), float(sol[2]) * _LAUNCH_SCALE

    def refit_families(self, rows: Iterable[CalibrationRow], *, min_rows: int = 3) -> EfficiencyCalibration:
        """A copy whose compute coefficient ``a`` is refitted, per method family, on newly measured steps.

        Families with at least ``min_rows`` rows get ``a`` by weighted least squares (weights 1/t, as in
        :meth:`fit`; a >= 1), holding this calibration's memory and launch terms (b, c): a handful of the
        project's own verification runs moves the family's efficiency without refitting the shared
        terms. Our own update rule. Families with fewer rows keep their coefficients.
        """
        self._check_is_fitted()
        by_family: dict[str, list[CalibrationRow]] = {}
        for row in rows:
            if row.measured_s > 0 and row.ideal_compute_s > 0 and np.isfinite(row.measured_s):
                by_family.setdefault(row.family, []).append(row)
        updated = EfficiencyCalibration(min_rows_per_family=self.min_rows_per_family)
        updated.coef_ = dict(self.coef_)
        updated.n_rows_ = dict(self.n_rows_)
        for family, data in by_family.items():
            if len(data) < min_rows:
                continue
            _, b, c = self.coef_.get(family) or self.coef_["*"]
            compute = np.array([r.ideal_compute_s for r in data])
            rest = np.array([b * r.ideal_memory_s + c * r.kernel_launches for r in data])
            y = np.array([r.measured_s for r in data])
            w2 = 1.0 / y**2
            a = float(np.sum(w2 * compute * (y - rest)) / np.sum(w2 * compute**2))
            updated.coef_[family] = (max(a, 1.0), b, c)
            updated.n_rows_[f"measured:{family}"] = len(data)
        return updated

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("EfficiencyCalibration is not fitted; call fit(rows) or load default_calibration()")

    def predict_one(self, family: str, ideal_compute_s: float, ideal_memory_s: float, kernel_launches: int) -> float:
        """Seconds for one step of ``family``."""
        self._check_is_fitted()
        a, b, c = self.coef_.get(family) or self.coef_["*"]
        return a * ideal_compute_s + b * ideal_memory_s + c * kernel_launches

    def predict(self, rows: Iterable[CalibrationRow]) -> np.ndarray:
        """Seconds for each row (``measured_s`` ignored)."""
        return np.array(
            [self.predict_one(r.family, r.ideal_compute_s, r.ideal_memory_s, r.kernel_launches) for r in rows]
        )

    def to_dict(self) -> dict[str, Any]:
        self._check_is_fitted()
        return {
            "model": "t = a*ideal_compute_s + b*ideal_memory_s + c*kernel_launches",
            "coef": {k: list(v) for k, v in sorted(self.coef_.items())},
            "n_rows": dict(sorted(self.n_rows_.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EfficiencyCalibration:
        try:
            coef = {str(k): (float(v[0]), float(v[1]), float(v[2])) for k, v in data["coef"].items()}
            counts = {str(k): int(v) for k, v in data.get("n_rows", {}).items()}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError("calibration", f"is not a fitted calibration: {exc}") from None
        if "*" not in coef:
            raise InvalidInputError("calibration.coef", "needs the pooled '*' entry")
        calibration = cls()
        calibration.coef_ = coef
        calibration.n_rows_ = counts
        return calibration


_DEFAULT: EfficiencyCalibration | None = None


def default_calibration() -> EfficiencyCalibration:
    """The calibration shipped with the package (fitted by ``benchmarks/cost_fit_calibration.py``)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("predictors.cost").joinpath(DEFAULT_CALIBRATION_FILE).read_text(encoding="utf-8")
        _DEFAULT = EfficiencyCalibration.from_dict(json.loads(text))
    return _DEFAULT
