"""Shot curves that rise, stay flat or fall: forms weighed by the probes' evidence (issue #12 item 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scaling import COSMOS_ICL_SD, IclShotLaw, NotFittedError, ScalingInputError, ShotCurveAverage


def test_rising_probes_reproduce_cosmos_eq5() -> None:
    """COSMOS HellaSwag probes (0.316, 0.526, 0.620 at 0/1/8 shots) rise far beyond their error: the
    rising form takes all the weight and the forecast is Eq. 5 through them."""
    curve = ShotCurveAverage().fit([0, 1, 8], [0.316, 0.526, 0.620])
    assert curve.weights_["rising"] > 0.999
    law = IclShotLaw().fit([0, 1, 8], [0.316, 0.526, 0.620])
    np.testing.assert_allclose(curve.predict([2, 4, 16]), law.predict([2, 4, 16]), atol=1e-6)


def test_flat_probes_forecast_flat_with_their_sampling_error() -> None:
    sd = math.sqrt(0.56 * 0.44 / 100)
    curve = ShotCurveAverage().fit([0, 1, 2, 4], [0.56] * 4, sigma=[sd] * 4)
    assert max(curve.weights_, key=curve.weights_.__getitem__) == "flat"
    lower, upper = curve.predict_interval([8, 32])
    assert curve.predict([8, 32]) == pytest.approx([0.56, 0.56])
    half_width = stats.norm.ppf(0.95) * math.hypot(sd, COSMOS_ICL_SD)  # the probes share one test set
    np.testing.assert_allclose(upper - lower, 2 * half_width, rtol=1e-6)


def test_falling_probes_are_never_extrapolated_upwards() -> None:
    """A small model losing accuracy with demonstrations (0.60, 0.50, 0.42): the falling form wins, no
    rising form is kept, and more shots are forecast no higher than the last probe."""
    curve = ShotCurveAverage().fit([0, 1, 4], [0.60, 0.50, 0.42], sigma=[0.03] * 3)
    assert "rising" not in curve.forms_ and curve.weights_["falling"] > 0.9
    assert np.all(curve.predict([8, 16]) <= 0.42 + 1e-9)


def test_wobbling_probes_widen_the_interval_by_the_forms_disagreement() -> None:
    """0.38, 0.28, 0.48: no form is clearly right, so the interval spans the forms' spread, wider than
    any single form's own error."""
    sd = [0.063] * 3
    curve = ShotCurveAverage().fit([0, 1, 4], [0.383, 0.283, 0.483], sigma=sd)
    assert 0.05 < min(curve.weights_.values()) and len(curve.weights_) >= 2
    lower, upper = curve.predict_interval([16])
    single = 2 * stats.norm.ppf(0.95) * math.hypot(0.063, COSMOS_ICL_SD)
    assert float(upper[0] - lower[0]) > single


def test_shot_curve_needs_three_shot_counts_and_a_fit() -> None:
    with pytest.raises(ScalingInputError, match="3 or more distinct shot counts"):
        ShotCurveAverage().fit([0, 8], [0.3, 0.5])
    with pytest.raises(NotFittedError):
        ShotCurveAverage().predict([4])


def test_the_average_of_forms_is_not_carried_up_through_falling_probes() -> None:
    """With some weight on the flat form (its level is the probes' mean), the average beyond a falling
    last probe still stays at or below that probe; within the probes it is the plain average."""
    curve = ShotCurveAverage().fit([0, 1, 4], [0.60, 0.52, 0.45], sigma=[0.035] * 3)
    assert 0.05 < curve.weights_["flat"] < 0.95
    assert np.all(curve.predict([8, 16, 64]) <= 0.45)
    inside = sum(w * (curve._form_mean(f, np.array([2.0]))[0]) for f, w in curve.weights_.items())
    assert curve.predict([2])[0] == pytest.approx(inside)


def test_a_demonstration_draws_spread_widens_few_shot_forecasts_only() -> None:
    """Single-draw probes (issue #12, "ICL flat"): the draw's spread joins each few-shot probe's and the
    forecast run's sd; the zero-shot probe draws nothing and keeps COSMOS's error."""
    sd = math.sqrt(0.56 * 0.44 / 100)
    curve = ShotCurveAverage(draw_sd=0.06).fit([0, 1, 2, 4], [0.56] * 4, sigma=[sd] * 4)
    np.testing.assert_allclose(curve.point_sd_, [math.hypot(sd, COSMOS_ICL_SD)] + [math.hypot(sd, 0.06)] * 3)
    lower, upper = curve.predict_interval([8])
    np.testing.assert_allclose(upper - lower, 2 * stats.norm.ppf(0.95) * math.hypot(sd, 0.06), rtol=1e-6)
    # below COSMOS's own error, COSMOS's is kept
    narrow = ShotCurveAverage(draw_sd=0.0).fit([0, 1, 2, 4], [0.56] * 4, sigma=[sd] * 4)
    np.testing.assert_allclose(narrow.point_sd_, [math.hypot(sd, COSMOS_ICL_SD)] * 4)


@pytest.mark.parametrize("draw_sd", [-0.1, math.nan, math.inf])
def test_a_draw_spread_that_is_not_an_sd_names_its_field(draw_sd: float) -> None:
    with pytest.raises(ScalingInputError, match="draw_sd") as caught:
        ShotCurveAverage(draw_sd=draw_sd).fit([0, 1, 4], [0.5, 0.55, 0.6])
    assert caught.value.field == "draw_sd"
