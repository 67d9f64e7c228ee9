"""Efficiency calibration: measured step time from roofline terms, fitted per method family.

A roofline gives two ideal times for a step: ``ideal_compute_s`` (matmul FLOPs at the dense peak) and
``ideal_memory_s`` (bytes that must cross HBM at its peak bandwidth). Real steps are slower: kernels do
not reach peak, non-matmul work (norms, softmax, the optimizer) is memory-bound, and every kernel costs
GPU time of its own. And the GPU only runs what the host has launched: PyTorch's eager mode issues
kernels one by one from Python (autograd bookkeeping included), asynchronously, so the step takes the
longer of the two streams — the GPU's work or the host's launches (small models are launch-bound:
the 350M shape runs slower than the 1.3B one at the same layer count). The calibration models a
measured time as

    t = max(a_family · ideal_compute_s + b · ideal_memory_s + g · kernel_launches,  h_family · kernel_launches)

with ``1/a`` the family's achieved fraction of the matmul peak (MFU), ``b`` and ``g`` (GPU seconds per
kernel beyond its roofline bytes) shared since they describe the device, and ``h`` the host seconds per
launch, per family since it depends on the execution mode (no-grad inference launches faster than an
autograd training step, LoRA's many small adapter kernels cost host time and almost no GPU time).
Coefficients are fitted jointly by least squares on *relative* residuals (so small and large models
count alike, and the fit minimises what MAPE measures), bounded a, b ≥ 1 (no step beats the dense peak
or the HBM bandwidth, so a prediction never drops below the roofline), g, h ≥ 0: one (a, h) per family
with enough rows, (b, g) shared. Families without rows use a related family (prefill and decode, both
no-grad forwards) or the pooled ``"*"`` fit. The max-of-two-streams form and the fit are ours; the
launch counts are estimated in :mod:`predictors.cost.passes`.

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
from scipy.optimize import least_squares, lsq_linear

from predictors.errors import InvalidInputError, NotFittedError
from predictors.methods import calibration_family

__all__ = [
    "DEFAULT_CALIBRATION_FILE",
    "CalibrationRow",
    "EfficiencyCalibration",
    "NotFittedError",
    "default_calibration",
    "method_family",
]

DEFAULT_CALIBRATION_FILE = "default_calibration.json"
_LAUNCH_SCALE = 1e-5  # column scaling so the coefficients are of similar size in the solve
_N_COEF = 4
_SOLVER: dict[str, Any] = {"method": "trf", "x_scale": "jac", "max_nfev": 20_000}
# a family without measured rows of its own borrows a related family's factors before the pooled "*"
_RELATED = {"decode": "prefill", "prefill": "decode"}
MODEL = "t = max(a*ideal_compute_s + b*ideal_memory_s + g*kernel_launches, h*kernel_launches)"

_PHASES = frozenset({"prefill", "decode"})  # inference families (not methods)


def method_family(method: str) -> str:
    """The calibration family of a method name (each spec's ``calibration_family``; frozen-base methods
    without one of their own borrow the family of the method marked ``times_unmeasured``), or a phase."""
    return method if method in _PHASES else calibration_family(method)


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
        Families with fewer rows get no factors of their own (they use a related family or ``"*"``).

    Attributes
    ----------
    coef_ : dict of str to tuple of 4 floats
        (a, b, g, h) per family, plus ``"*"`` fitted on every row.
    n_rows_ : dict of str to int
        Rows each family was fitted on.
    """

    def __init__(self, *, min_rows_per_family: int = 3) -> None:
        self.min_rows_per_family = min_rows_per_family

    def fit(self, rows: Iterable[CalibrationRow]) -> EfficiencyCalibration:
        data = list(rows)
        if len(data) < _N_COEF:
            raise ValueError(f"need at least {_N_COEF} measured rows to fit {_N_COEF} coefficients, got {len(data)}")
        for row in data:
            values = (row.ideal_compute_s, row.ideal_memory_s, row.measured_s)
            if not all(np.isfinite(v) and v >= 0 for v in values) or row.measured_s <= 0 or row.kernel_launches < 0:
                raise ValueError(f"row {row} has a non-finite, negative or zero time")
        counts: dict[str, int] = {"*": len(data)}
        for row in data:
            counts[row.family] = counts.get(row.family, 0) + 1
        own = sorted(f for f, n in counts.items() if f != "*" and n >= self.min_rows_per_family)
        terms = _terms(data)
        pooled = _solve(terms, np.zeros(len(data), dtype=int), 1, _pooled_start(terms))[0]
        # joint fit: (a, h) per family with enough rows (the rest share "*"), shared b and g; started
        # from the pooled fit, so a factor the family's rows cannot identify stays at the pooled value
        columns = [*own, "*"] if any(r.family not in own for r in data) else own
        index = np.array([columns.index(r.family) if r.family in own else len(columns) - 1 for r in data])
        start = np.array([pooled[0], pooled[3]] * len(columns) + [pooled[1], pooled[2]])
        coef = _solve(terms, index, len(columns), start)
        fitted = {family: coef[j] for j, family in enumerate(columns)}
        if "*" not in fitted:
            fitted["*"] = pooled
        self.coef_ = {family: _unscale(c) for family, c in fitted.items()}
        self.n_rows_ = counts
        return self

    def refit_families(self, rows: Iterable[CalibrationRow], *, min_rows: int = 3) -> EfficiencyCalibration:
        """A copy whose per-family factors ``a`` and ``h`` are refitted on newly measured steps.

        Families with at least ``min_rows`` rows get (a, h) by least squares on relative residuals (as in
        :meth:`fit`; a >= 1, h >= 0), started from this calibration's values and holding its device terms
        (b, g): a handful of the project's own verification runs moves the family's matmul efficiency and
        host cost per launch without refitting the shared terms; a factor the new rows do not constrain
        (no launch-bound row, or no compute-bound one) keeps its value. Our own update rule. Families
        with fewer rows keep their coefficients.
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
            a, b, g, h = _scale(self.coefficients(family))
            terms = _terms(data)

            def residuals(p: np.ndarray, terms: np.ndarray = terms, b: float = b, g: float = g) -> np.ndarray:
                return _relative_residuals(terms, p[0], b, g, p[1])

            sol = least_squares(residuals, np.array([a, h]), bounds=([1.0, 0.0], [np.inf, np.inf]), **_SOLVER).x
            updated.coef_[family] = _unscale((max(float(sol[0]), 1.0), b, g, max(float(sol[1]), 0.0)))
            updated.n_rows_[f"measured:{family}"] = len(data)
        return updated

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("EfficiencyCalibration is not fitted; call fit(rows) or load default_calibration()")

    def coefficients(self, family: str) -> tuple[float, float, float, float]:
        """(a, b, g, h) used for ``family``: its own, else a related family's (decode and prefill, both
        no-grad forwards, stand in for each other), else the pooled ``"*"``."""
        self._check_is_fitted()
        coef = self.coef_.get(family)
        if coef is None:
            related = _RELATED.get(family)
            coef = self.coef_.get(related) if related is not None else None
        return coef if coef is not None else self.coef_["*"]

    def predict_one(self, family: str, ideal_compute_s: float, ideal_memory_s: float, kernel_launches: int) -> float:
        """Seconds for one step of ``family``: max(GPU time, host launch time)."""
        a, b, g, h = self.coefficients(family)
        return max(a * ideal_compute_s + b * ideal_memory_s + g * kernel_launches, h * kernel_launches)

    def predict(self, rows: Iterable[CalibrationRow]) -> np.ndarray:
        """Seconds for each row (``measured_s`` ignored)."""
        return np.array(
            [self.predict_one(r.family, r.ideal_compute_s, r.ideal_memory_s, r.kernel_launches) for r in rows]
        )

    def to_dict(self) -> dict[str, Any]:
        self._check_is_fitted()
        return {
            "model": MODEL,
            "coef": {k: list(v) for k, v in sorted(self.coef_.items())},
            "n_rows": dict(sorted(self.n_rows_.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EfficiencyCalibration:
        """Load :meth:`to_dict` output. A three-factor entry (a, b, c) of the earlier additive model
        ``a*C + b*M + c*L`` loads as (a, b, c, 0), which predicts exactly what it did."""
        try:
            coef: dict[str, tuple[float, float, float, float]] = {}
            for k, v in data["coef"].items():
                values = [float(x) for x in v]
                if len(values) == 3:
                    values.append(0.0)
                if len(values) != _N_COEF:
                    raise ValueError(f"{k!r} has {len(values)} factors, expected {_N_COEF}")
                coef[str(k)] = (values[0], values[1], values[2], values[3])
            counts = {str(k): int(v) for k, v in data.get("n_rows", {}).items()}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError("calibration", f"is not a fitted calibration: {exc}") from None
        if "*" not in coef:
            raise InvalidInputError("calibration.coef", "needs the pooled '*' entry")
        calibration = cls()
        calibration.coef_ = coef
        calibration.n_rows_ = counts
        return calibration


def _terms(rows: list[CalibrationRow]) -> np.ndarray:
    """Rows as (ideal compute s, ideal memory s, launches · _LAUNCH_SCALE, measured s)."""
    return np.array(
        [[r.ideal_compute_s, r.ideal_memory_s, r.kernel_launches * _LAUNCH_SCALE, r.measured_s] for r in rows],
        dtype=float,
    ).reshape(-1, 4)


def _scale(coef: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    a, b, g, h = coef
    return a, b, g / _LAUNCH_SCALE, h / _LAUNCH_SCALE


def _unscale(coef: Iterable[float]) -> tuple[float, float, float, float]:
    a, b, g, h = (float(x) for x in coef)
    return a, b, g * _LAUNCH_SCALE, h * _LAUNCH_SCALE


def _relative_residuals(terms: np.ndarray, a: Any, b: Any, g: Any, h: Any) -> np.ndarray:
    """predicted/measured − 1 for scaled ``terms`` rows under :data:`MODEL` (factors scalar or per row)."""
    compute, memory, launches, measured = terms.T
    return np.asarray(np.maximum(a * compute + b * memory + g * launches, h * launches) / measured - 1.0)


def _pooled_start(terms: np.ndarray) -> np.ndarray:
    """A start for the pooled fit: the additive fit a*C + b*M + g*L (a convex problem), h at half the
    steepest measured seconds per launch."""
    w = 1.0 / terms[:, 3]
    lin = lsq_linear(terms[:, :3] * w[:, None], terms[:, 3] * w, bounds=(np.array([1.0, 1.0, 0.0]), np.inf)).x
    launches = terms[:, 2]
    per_launch = terms[:, 3][launches > 0] / launches[launches > 0]
    h = 0.5 * float(per_launch.max()) if per_launch.size else 0.0
    return np.array([lin[0], h, lin[1], lin[2]])


def _solve(terms: np.ndarray, index: np.ndarray, n_families: int, start: np.ndarray) -> np.ndarray:
    """Least squares on relative residuals of t = max(a_f*C + b*M + g*L, h_f*L), launches scaled.

    ``index`` maps rows to families, ``start`` is (a, h) per family then the shared (b, g). Returns an
    (n_families, 4) array of scaled (a, b, g, h).
    """

    def residuals(p: np.ndarray) -> np.ndarray:
        return _relative_residuals(
            terms, p[0 : 2 * n_families : 2][index], p[-2], p[-1], p[1 : 2 * n_families : 2][index]
        )

    # a, b >= 1: no step beats the dense peak or the HBM bandwidth; g, h >= 0
    lower = np.array([1.0, 0.0] * n_families + [1.0, 0.0])
    sol = least_squares(residuals, np.maximum(start, lower), bounds=(lower, np.inf), **_SOLVER).x
    b, g = float(sol[-2]), float(sol[-1])
    return np.array([[max(float(sol[2 * j]), 1.0), max(b, 1.0), g, float(sol[2 * j + 1])] for j in range(n_families)])


_DEFAULT: EfficiencyCalibration | None = None


def default_calibration() -> EfficiencyCalibration:
    """The calibration shipped with the package (fitted by ``benchmarks/cost_fit_calibration.py``)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("predictors.cost").joinpath(DEFAULT_CALIBRATION_FILE).read_text(encoding="utf-8")
        _DEFAULT = EfficiencyCalibration.from_dict(json.loads(text))
    return _DEFAULT
