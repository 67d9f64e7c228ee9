"""Chinchilla loss law: parameter recovery, allocation, invariances."""

from __future__ import annotations

import numpy as np
import pytest

from scaling import ChinchillaLaw, ScalingInputError, compute_optimal_allocation
from tests.scaling.scaling_cases import make_case

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Table A3


def test_recovers_known_parameters() -> None:
    x, y, _, p = make_case("chinchilla", n=200)
    law = ChinchillaLaw(random_state=0).fit(x, y)
    assert p is not None
    # exponents within 3 %, E within 1 %; A, B are strongly correlated with them (10 %)
    assert law.params_["alpha"] == pytest.approx(p["alpha"], rel=0.03)
    assert law.params_["beta"] == pytest.approx(p["beta"], rel=0.03)
    assert law.params_["E"] == pytest.approx(p["E"], rel=0.01)
    assert law.params_["A"] == pytest.approx(p["A"], rel=0.10)
    assert law.params_["B"] == pytest.approx(p["B"], rel=0.10)
    for k, (lo, hi) in law.intervals_.items():
        assert lo <= law.params_[k] <= hi


def test_unit_rescaling_only_moves_the_coefficients() -> None:
    x, y, _, _ = make_case("chinchilla", n=120)
    a = ChinchillaLaw(random_state=0).fit(x, y)
    scaled = {"n_params": x["n_params"] / 1e9, "n_tokens": x["n_tokens"] / 1e12}
    b = ChinchillaLaw(random_state=0).fit(scaled, y)
    assert b.params_["alpha"] == pytest.approx(a.params_["alpha"], rel=1e-3)
    assert b.params_["beta"] == pytest.approx(a.params_["beta"], rel=1e-3)
    assert b.params_["A"] == pytest.approx(a.params_["A"] / 1e9 ** a.params_["alpha"], rel=1e-2)
    np.testing.assert_allclose(a.predict(x), b.predict(scaled), rtol=1e-5)


def test_compute_optimal_allocation_is_on_budget_and_minimal() -> None:
    for c in (1e21, 5.76e23):
        n, d = compute_optimal_allocation(HOFFMANN, c)
        assert 6 * n * d == pytest.approx(c, rel=1e-9)
        grid_n = n * np.logspace(-0.5, 0.5, 201)
        law = ChinchillaLaw.from_params(HOFFMANN)
        losses = law.predict({"n_params": grid_n, "n_tokens": c / (6 * grid_n)})
        assert np.argmin(losses) == 100
    # Chinchilla's own budget gives tens of billions of params and ~1e12 tokens
    n, d = compute_optimal_allocation(HOFFMANN, 5.76e23)
    assert 1e10 < n < 1e11 and 1e11 < d < 1e13


def test_allocation_rejects_bad_budget() -> None:
    with pytest.raises(ScalingInputError):
        compute_optimal_allocation(HOFFMANN, [1e21, -1.0])
    with pytest.raises(ScalingInputError):
        compute_optimal_allocation({"A": 1.0}, 1e21)


def test_non_positive_size_rejected() -> None:
    x, y, _, _ = make_case("chinchilla")
    x["n_tokens"] = np.array(x["n_tokens"])
    x["n_tokens"][4] = 0.0
    with pytest.raises(ScalingInputError) as err:
        ChinchillaLaw().fit(x, y)
    assert err.value.field == "points[4].x.n_tokens"
