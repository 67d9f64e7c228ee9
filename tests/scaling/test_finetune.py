# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Fine-tuning data laws: rectified (Lin et al.) and multiplicative joint (Zhang et al.)."""

from __future__ import annotations

import numpy as np
import pytest

from scaling import JointFinetuneLaw, RectifiedDataLaw, ScalingInputError, fit_law
from tests.scaling.scaling_cases import make_case


def test_rectified_recovers_parameters() -> None:
    x, y, _, p = make_case("rectified_data")
    law = RectifiedDataLaw(random_state=0).fit(x, y)
    assert p is not None
    assert law.params_["beta"] == pytest.approx(p["beta"], rel=0.1)
    assert law.params_["E"] == pytest.approx(p["E"], abs=0.02)
    # extrapolation to 10x the largest probe within 1 %
    truth = p["B"] / (p["D_l"] + 3e5 ** p["beta"]) + p["E"]
    assert law.predict([3e5])[0] == pytest.approx(truth, rel=0.01)


def test_rectified_from_two_probes_with_fixed_parameters() -> None:
    """2 probe fine-tunes: fix E and D_l, fit B and beta exactly."""
    D = np.array([200.0, 2000.0])
    y = 3.0 * D**-0.3 + 0.4
    res = fit_law("rectified_data", D, y, fixed={"E": 0.4, "D_l": 0.0})
    assert res.params["beta"] == pytest.approx(0.3, rel=1e-6)
    assert res.params["B"] == pytest.approx(3.0, rel=1e-6)
    assert res.diagnostics["n_params"] == 2 and res.diagnostics["fixed"] == ["D_l", "E"]
    assert res.intervals["E"] == (0.4, 0.4)


def test_rectified_too_few_probes_names_counts() -> None:
    with pytest.raises(ScalingInputError, match=r"needs at least 4 points .* got 2 points"):
        RectifiedDataLaw().fit([100, 1000], [2.0, 1.5])


def test_rectified_pre_learned_size_flattens_small_data_regime() -> None:
    law = RectifiedDataLaw.from_params({"B": 100.0, "D_l": 1000.0, "beta": 0.5, "E": 0.5})
    small = law.predict([0, 1, 10])
    assert np.ptp(small) < 0.01 * small[0]  # "pre-power phase": nearly flat
    assert law.predict([1e6])[0] < small[-1]


def test_joint_recovers_parameters_and_is_multiplicative() -> None:
    x, y, _, p = make_case("joint_finetune")
    law = JointFinetuneLaw(random_state=0).fit(x, y)
    assert p is not None
    for k in ("alpha", "beta", "E"):
        assert law.params_[k] == pytest.approx(p[k], rel=0.05)
    # multiplicative: the reducible loss ratio between two data sizes is size-independent
    r1 = (law.predict([[1e8, 1e3]]) - law.params_["E"]) / (law.predict([[1e8, 1e4]]) - law.params_["E"])
    r2 = (law.predict([[8e9, 1e3]]) - law.params_["E"]) / (law.predict([[8e9, 1e4]]) - law.params_["E"])
    assert r1[0] == pytest.approx(r2[0], rel=1e-9)


def test_joint_from_four_probes() -> None:
    X = np.array([1e9, 1e9, 7e9, 7e9])
    Df = np.array([500.0, 4000.0, 500.0, 4000.0])
    y = 40 * X**-0.12 * Df**-0.15 + 0.8
    res = fit_law("joint_finetune", {"factor": X, "n_examples": Df}, y, fixed={"E": 0.8})
    assert res.params["alpha"] == pytest.approx(0.12, rel=1e-4)
    assert res.params["beta"] == pytest.approx(0.15, rel=1e-4)


def test_negative_examples_rejected() -> None:
    with pytest.raises(ScalingInputError) as err:
        RectifiedDataLaw().fit([100, -0.5, 1000, 3000, 9000], [2.0, 1.9, 1.5, 1.2, 1.1])
    assert err.value.field == "points[1].x"
