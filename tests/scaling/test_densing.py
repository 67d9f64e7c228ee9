# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Densing law: loss law, sigmoid, inversion guards, trend and the paper's anchors."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from scaling import (
    DensingLaw,
    DensingLossLaw,
    DensingTrendLaw,
    LossScoreSigmoid,
    ScalingInputError,
    density,
    doubling_time_days,
    effective_params,
    envelope_mask,
    loss_from_score,
)
from tests.scaling.scaling_cases import make_case


def test_loss_law_recovers_parameters() -> None:
    x, y, _, p = make_case("densing_loss")
    law = DensingLossLaw(random_state=0).fit(x, y)
    assert p is not None
    assert law.params_["alpha"] == pytest.approx(p["alpha"], rel=0.05)
    assert law.params_["beta"] == pytest.approx(p["beta"], rel=0.05)


def test_score_sigmoid_recovers_parameters_and_inverts() -> None:
    x, y, _, p = make_case("densing_score")
    law = LossScoreSigmoid(random_state=0).fit(x, y)
    assert p is not None
    for k in p:
        assert law.params_[k] == pytest.approx(p[k], rel=0.05, abs=0.01)
    L = np.array([0.8, 1.4, 2.2])
    S = law.predict(L)
    np.testing.assert_allclose(loss_from_score(S, law.params_), L, rtol=1e-8)


def test_effective_params_round_trip_and_density() -> None:
    lp = {"a": 30.0, "alpha": 0.2, "b": 60.0, "beta": 0.25}
    sp = {"c": 0.9, "gamma": -8.0, "l": 1.0, "d": 0.05}
    N = np.array([1e9, 7e9])
    L = lp["a"] * N ** -lp["alpha"] + lp["b"] * 1e12 ** -lp["beta"]
    S = sp["c"] / (1 + np.exp(-sp["gamma"] * (L - sp["l"]))) + sp["d"]
    np.testing.assert_allclose(effective_params(S, lp, sp), N, rtol=1e-8)
    np.testing.assert_allclose(density(S, N / 2, lp, sp), [2.0, 2.0], rtol=1e-8)


def test_inversion_guards() -> None:
    lp = {"a": 30.0, "alpha": 0.2, "b": 60.0, "beta": 0.25}
    sp = {"c": 0.9, "gamma": -8.0, "l": 1.0, "d": 0.05}
    with pytest.raises(ScalingInputError, match="outside the sigmoid") as err:
        effective_params([0.5, 0.96], lp, sp)
    assert err.value.field == "x[1]"
    with pytest.raises(ScalingInputError, match="outside"):
        effective_params([0.05], lp, sp)
    # a score whose loss is below the D0 floor b*D0^-beta has no finite N̂
    floor = lp["b"] * 1e12 ** -lp["beta"]
    s_floor = sp["c"] / (1 + np.exp(-sp["gamma"] * (floor * 0.5 - sp["l"]))) + sp["d"]
    with pytest.raises(ScalingInputError, match="floor"):
        effective_params([s_floor], lp, sp)
    with pytest.raises(ScalingInputError):
        effective_params([0.5], {**lp, "alpha": -0.1}, sp)


def test_trend_recovers_slope_and_doubling_time() -> None:
    x, y, opts, _p = make_case("densing_trend")
    law = DensingTrendLaw(**opts).fit(x, y)
    assert law.params_["A"] == pytest.approx(0.007, rel=0.1)
    assert law.doubling_time_days_ == pytest.approx(math.log(2) / law.params_["A"])
    assert 0.5 < law.r2_ <= 1.0


def test_envelope_is_running_maximum() -> None:
    t = [0, 10, 20, 30, 40]
    rho = [1.0, 0.5, 2.0, 1.5, 3.0]
    assert envelope_mask(t, rho).tolist() == [True, False, True, False, True]
    law = DensingTrendLaw().fit(t, rho)
    assert law.envelope_mask_.tolist() == [True, False, True, False, True]


def test_doubling_time_of_paper_slopes() -> None:
    assert doubling_time_days(0.007) == pytest.approx(99.0, abs=0.1)
    assert doubling_time_days(0.0073) == pytest.approx(94.95, abs=0.05)
    with pytest.raises(ScalingInputError):
        doubling_time_days(-0.001)


def test_densing_registry_stages() -> None:
    x, y, _, _ = make_case("densing_score")
    law = DensingLaw(stage="score", random_state=0).fit(x, y)
    assert set(law.params_) == {"c", "gamma", "l", "d"}
    with pytest.raises(ScalingInputError) as err:
        DensingLaw(stage="nope").fit(x, y)
    assert err.value.field == "options.stage"


def test_densing_refit_beside_paper(harness: ModuleType, data_dir: Path) -> None:
    rows = {r.quantity: r for r in harness.run_densing()}
    assert rows["Table 1 non-embedding params reproduced"].ours == "6/6 exact"
    assert rows["doubling time from A = 0.007/day"].ours.startswith("99.0 days")
    assert rows["doubling time from A = 0.0073/day"].ours.startswith("95.0 days")
    two = float(rows["two-point doubling time"].ours.split()[0])
    assert 75 < two < 90  # two dated models imply faster densing than the envelope fit
    fixed = rows["fixed-price effective-size doubling (A = 0.007)"].ours
    assert float(fixed.split()[0]) == pytest.approx(88, abs=0.5)
    rho = float(rows["synthetic round trip: density of a reference model at D0"].ours)
    assert rho == pytest.approx(1.0, abs=0.02)
