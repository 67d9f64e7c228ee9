"""Refitting the efficiency calibration on the project's own measured steps."""

from __future__ import annotations

import pytest

from predictors.cost import default_calibration
from predictors.cost.calibration import CalibrationRow


def rows(family: str, a: float, n: int, h: float | None = None) -> list[CalibrationRow]:
    """Measured steps of ``family`` with matmul factor ``a`` (and host seconds per launch ``h``)."""
    base = default_calibration()
    _, b, g, h0 = base.coef_[family]
    h = h0 if h is None else h
    out = []
    for x, launches in zip((0.01, 0.02, 0.05, 0.1, 0.2), (8000, 400, 6000, 400, 400), strict=True):
        out.append(CalibrationRow(family, x, x / 3, launches, max(a * x + b * x / 3 + g * launches, h * launches)))
    return out[:n]


def test_refit_recovers_a_family_coefficient_and_keeps_the_rest() -> None:
    base = default_calibration()
    before = dict(base.coef_)
    updated = base.refit_families(rows("lora", 2.5, 4))
    assert updated.coef_["lora"][0] == pytest.approx(2.5)
    assert updated.coef_["lora"][1:3] == before["lora"][1:3]  # the device terms b, g are kept
    assert {k: v for k, v in updated.coef_.items() if k != "lora"} == {k: v for k, v in before.items() if k != "lora"}
    assert base.coef_ == before  # the shipped calibration is not modified
    assert updated.n_rows_["measured:lora"] == 4


def test_refit_moves_the_host_cost_per_launch_on_launch_bound_rows() -> None:
    base = default_calibration()
    updated = base.refit_families(rows("lora", 2.5, 5, h=6e-5))
    assert updated.coef_["lora"][0] == pytest.approx(2.5)
    assert updated.coef_["lora"][3] == pytest.approx(6e-5)


def test_too_few_rows_leave_the_family_alone() -> None:
    base = default_calibration()
    assert base.refit_families(rows("full", 3.0, 2)).coef_["full"] == base.coef_["full"]


def test_coefficient_never_beats_the_roofline() -> None:
    updated = default_calibration().refit_families(rows("lora", 0.2, 3))
    assert 1.0 <= updated.coef_["lora"][0] == pytest.approx(1.0)
