"""Refitting the efficiency calibration on the project's own measured steps."""

from __future__ import annotations

import pytest

from predictors.cost import default_calibration
from predictors.cost.calibration import CalibrationRow


def rows(family: str, a: float, n: int) -> list[CalibrationRow]:
    base = default_calibration()
    _, b, c = base.coef_[family]
    return [
        CalibrationRow(family, x, x / 3, 400, a * x + b * x / 3 + c * 400) for x in (0.01, 0.02, 0.05, 0.1, 0.2)[:n]
    ]


def test_refit_recovers_a_family_coefficient_and_keeps_the_rest() -> None:
    base = default_calibration()
    before = dict(base.coef_)
    updated = base.refit_families(rows("lora", 2.5, 4))
    assert updated.coef_["lora"][0] == pytest.approx(2.5)
    assert updated.coef_["lora"][1:] == before["lora"][1:]
    assert {k: v for k, v in updated.coef_.items() if k != "lora"} == {k: v for k, v in before.items() if k != "lora"}
    assert base.coef_ == before  # the shipped calibration is not modified
    assert updated.n_rows_["measured:lora"] == 4


def test_too_few_rows_leave_the_family_alone() -> None:
    base = default_calibration()
    assert base.refit_families(rows("full", 3.0, 2)).coef_["full"] == base.coef_["full"]


def test_coefficient_never_beats_the_roofline() -> None:
    updated = default_calibration().refit_families(rows("lora", 0.2, 3))
    assert updated.coef_["lora"][0] == 1.0
