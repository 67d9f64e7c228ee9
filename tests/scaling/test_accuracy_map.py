# ruff: noqa: N806 -- maths notation (N, D, X, K, ...) follows the papers
"""Two-step prediction: continuous quantity first, accuracy in a separate fitted map."""

from __future__ import annotations

import numpy as np
import pytest

from scaling import LoglikAccuracyMap, PowerLaw, ScalingInputError, predict_two_step
from tests.scaling.scaling_cases import make_case


def test_map_recovers_parameters() -> None:
    x, y, opts, p = make_case("loglik_accuracy")
    m = LoglikAccuracyMap(random_state=0, **opts).fit(x, y)
    assert p is not None
    assert m.params_["k"] == pytest.approx(p["k"], rel=0.1)
    assert m.params_["x0"] == pytest.approx(p["x0"], abs=0.05)
    assert np.all(m.predict([-50.0, 50.0]) == pytest.approx([0.25, 1.0], abs=1e-6))


def test_two_step_beats_direct_accuracy_extrapolation() -> None:
    """Schaeffer et al.: forecast log-likelihood, then map; accuracy itself is a sigmoid."""
    C = np.logspace(19, 23, 9)
    loglik = -(0.2 + 8e3 * C**-0.2)  # mean log p(correct), increasing with compute
    acc = 0.25 + 0.75 / (1 + np.exp(-4 * (loglik + 1.0)))
    small = C < 3e21
    nll = PowerLaw(random_state=0).fit(C[small], -loglik[small])

    class _Neg(PowerLaw):
        def predict(self, x: object) -> np.ndarray:
            return -super().predict(x)

    neg = _Neg.from_params(nll.params_)
    amap = LoglikAccuracyMap(chance=0.25, random_state=0).fit(loglik, acc)
    two = predict_two_step(neg, amap, C[~small])
    np.testing.assert_allclose(two, acc[~small], atol=1e-3)
    direct = PowerLaw(random_state=0).fit(C[small], 1 - acc[small])
    err_direct = np.max(np.abs(1 - direct.predict(C[~small]) - acc[~small]))
    assert err_direct > 10 * np.max(np.abs(two - acc[~small]))


def test_bad_chance_rejected() -> None:
    with pytest.raises(ScalingInputError) as err:
        LoglikAccuracyMap(chance=0.9, ceiling=0.5).fit([-1, -0.5, 0], [0.5, 0.6, 0.7])
    assert err.value.field == "options.chance"
