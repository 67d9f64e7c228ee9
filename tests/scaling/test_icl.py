"""COSMOS ICL shot law: paper reproduction, anchors, form selection."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling import IclShotLaw, ScalingInputError, solve_cosmos_anchors


def test_cosmos_hellaswag_predictions_within_0_001(harness: ModuleType) -> None:
    """cosmos.md appendix (paper Table 8-10): predictions at d = 1, 2, 4, 8, 16."""
    for d, (paper, ours) in harness.run_cosmos_icl().items():
        assert ours == pytest.approx(paper, abs=1e-3), d


def test_cosmos_anchor_parameters() -> None:
    law = IclShotLaw().fit([0, 1, 8], [0.316, 0.526, 0.620])
    assert law.diagnostics_["method"] == "cosmos"
    assert law.params_["pi0"] == 0.316
    assert law.params_["alpha"] == pytest.approx(0.304, abs=5e-4)
    assert law.params_["beta"] == pytest.approx(1.173, abs=1e-3)
    np.testing.assert_allclose(law.predict([0, 1, 8]), [0.316, 0.526, 0.620], atol=1e-12)
    # no uncertainty from an exactly determined fit, and it says so
    assert law.diagnostics_["errorbars"] is False
    lo, hi = law.predict_interval([4])
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_pi0_is_min_of_zero_and_one_shot() -> None:
    with pytest.raises(ScalingInputError, match="non-monotone"):
        IclShotLaw().fit([0, 1, 8], [0.55, 0.50, 0.60])


def test_non_monotone_probes_rejected() -> None:
    with pytest.raises(ScalingInputError, match="non-monotone"):
        IclShotLaw().fit([0, 1, 8], [0.3, 0.5, 0.45])
    with pytest.raises(ScalingInputError):
        solve_cosmos_anchors(0.5, 0.9, 0.3, shots_low=1, shots_high=2)  # faster than linear


def test_accuracy_outside_unit_interval_rejected() -> None:
    with pytest.raises(ScalingInputError) as err:
        IclShotLaw().fit([0, 1, 8], [0.3, 1.5, 0.6])
    assert err.value.field == "points[1].y"


@pytest.mark.parametrize(
    ("form", "truth"),
    [
        ("exponential", lambda d: 0.3 * (1 - np.exp(-0.4 * d)) + 0.4),
        ("loglinear", lambda d: 0.35 + 0.05 * np.log1p(d)),
    ],
)
def test_auto_selects_generating_form_by_heldout_error(form: str, truth: object) -> None:
    d = np.array([0, 1, 2, 4, 8, 16, 32], dtype=float)
    rng = np.random.default_rng(0)
    y = truth(d) + rng.normal(0, 0.001, d.size)  # type: ignore[operator]
    law = IclShotLaw(random_state=0).fit(d, y)
    assert law.form_ == form
    assert set(law.heldout_mse_) == {"exponential", "power", "loglinear"}
    assert min(law.heldout_mse_.values()) == law.heldout_mse_[form]


def test_least_squares_recovers_parameters() -> None:
    d = np.array([0, 1, 2, 4, 8, 16, 32], dtype=float)
    y = 0.3 * (1 - np.exp(-0.5 * d)) + 0.4 + np.random.default_rng(1).normal(0, 0.002, 7)
    law = IclShotLaw(form="exponential", random_state=0).fit(d, y)
    assert law.params_["alpha"] == pytest.approx(0.3, abs=0.01)
    assert law.params_["beta"] == pytest.approx(0.5, rel=0.1)
    assert law.params_["pi0"] == pytest.approx(0.4, abs=0.005)


def test_auto_without_zero_shot_falls_back_to_least_squares() -> None:
    d = np.array([1.0, 4.0, 16.0])
    y = 0.3 * (1 - np.exp(-0.5 * d)) + 0.4
    law = IclShotLaw(random_state=0).fit(d, y)
    assert "method" not in law.diagnostics_ or law.diagnostics_["method"] != "cosmos"
    np.testing.assert_allclose(law.predict(d), y, atol=1e-6)
    with pytest.raises(ScalingInputError, match="0-shot"):
        IclShotLaw(method="cosmos").fit(d, y)


@settings(max_examples=60, deadline=None)
@given(
    pi0=st.floats(0.0, 0.6),
    gain1=st.floats(0.01, 0.3),
    extra=st.floats(0.0, 1.0),
)
def test_anchor_solution_passes_through_probes(pi0: float, gain1: float, extra: float) -> None:
    """For any increasing, sub-linear probes the closed form interpolates all three points."""
    y1 = pi0 + gain1
    y8 = y1 + extra * 0.99 * 7 * gain1  # strictly below the linear-growth limit
    if y8 > 1.0:
        return
    law = IclShotLaw().fit([0, 1, 8], [pi0, y1, y8])
    np.testing.assert_allclose(law.predict([0, 1, 8]), [pi0, y1, y8], atol=1e-9)
    assert law.params_["alpha"] > 0 and law.params_["beta"] > 0
