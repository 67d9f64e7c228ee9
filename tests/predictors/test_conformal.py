"""Split conformal intervals per tier (issue #12 item 5): the requested level is the held-out coverage."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.accuracy.conformal import ConformalIntervals, held_out_coverage
from predictors.accuracy.features import Observation
from predictors.accuracy.tiers import predict_accuracies
from predictors.errors import InvalidInputError


def pairs(n: int, *, half_width: float, error_sd: float, seed: int) -> tuple[np.ndarray, ...]:
    """Forecasts with a fixed half-width whose real errors have ``error_sd``: too narrow or too wide."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0.3, 0.8, n)
    measured = np.clip(mean + rng.normal(0.0, error_sd, n), 0.0, 1.0)
    return mean, mean - half_width, mean + half_width, measured


@pytest.mark.parametrize(("half_width", "level"), [(0.05, 0.9), (0.05, 0.5), (0.30, 0.9), (0.30, 0.8)])
def test_calibrated_intervals_cover_the_requested_level_on_held_out_pairs(half_width: float, level: float) -> None:
    """Calibrated on 400 pairs, checked on 2,000 others: too narrow (0.05 for an error sd of 0.06, 59 %
    coverage) and too wide (0.30, 100 %) intervals both end near the level asked for."""
    mean, lower, upper, measured = pairs(400, half_width=half_width, error_sd=0.06, seed=0)
    conformal = ConformalIntervals().fit(mean, lower, upper, measured, ["probe"] * 400)
    t_mean, t_lower, t_upper, t_measured = pairs(2000, half_width=half_width, error_sd=0.06, seed=1)
    before = np.mean((t_lower <= t_measured) & (t_measured <= t_upper))
    new_lower, new_upper = conformal.transform(t_mean, t_lower, t_upper, ["probe"] * 2000, level)
    after = np.mean((new_lower <= t_measured) & (t_measured <= new_upper))
    assert abs(before - level) > 0.09
    assert after == pytest.approx(level, abs=0.04)


def test_held_out_coverage_uses_only_the_other_pairs() -> None:
    mean, lower, upper, measured = pairs(300, half_width=0.05, error_sd=0.06, seed=2)
    inside = held_out_coverage(mean, lower, upper, measured, ["prior"] * 300, level=0.9)
    assert np.mean((lower <= measured) & (measured <= upper)) < 0.7
    assert inside.mean() == pytest.approx(0.9, abs=0.05)


def test_each_tier_is_calibrated_on_its_own_pairs_and_small_tiers_are_left_alone() -> None:
    narrow = pairs(100, half_width=0.02, error_sd=0.06, seed=3)
    wide = pairs(100, half_width=0.30, error_sd=0.06, seed=4)
    few = pairs(5, half_width=0.02, error_sd=0.06, seed=5)
    mean, lower, upper, measured = (np.concatenate(parts) for parts in zip(narrow, wide, few, strict=True))
    tiers = ["probe"] * 100 + ["prior"] * 100 + ["measured"] * 5
    conformal = ConformalIntervals().fit(mean, lower, upper, measured, tiers)
    probe_scale, prior_scale = conformal.scale("probe", 0.9), conformal.scale("prior", 0.9)
    assert probe_scale is not None and prior_scale is not None and probe_scale > 2.0 > 1.0 > prior_scale
    assert conformal.scale("measured", 0.9) is None
    lower, upper = conformal.transform(few[0], few[1], few[2], ["measured"] * 5, 0.9)
    assert np.array_equal(lower, few[1]) and np.array_equal(upper, few[2])


def test_forecasts_say_their_interval_was_recalibrated() -> None:
    mean, lower, upper, measured = pairs(50, half_width=0.05, error_sd=0.06, seed=6)
    conformal = ConformalIntervals().fit(mean, lower, upper, measured, ["prior"] * 50)
    (raw,) = predict_accuracies([Observation("m", {"name": "lora"}, "t", n_choices=4)])
    (calibrated,) = predict_accuracies([Observation("m", {"name": "lora"}, "t", n_choices=4)], conformal=conformal)
    assert calibrated.predictor == raw.predictor + ", conformal" and calibrated.mean == raw.mean
    scale = conformal.scale("prior", 0.9)
    assert scale is not None
    assert calibrated.upper == pytest.approx(min(1.0, raw.mean + scale * (raw.upper - raw.lower) / 2))


def test_bad_pairs_and_levels_name_the_field() -> None:
    with pytest.raises(InvalidInputError) as error:
        ConformalIntervals().fit([0.5], [0.4], [0.6], [0.5, 0.6], ["prior"])
    assert error.value.field == "pairs" and "equal lengths" in str(error.value)
    with pytest.raises(InvalidInputError) as error:
        ConformalIntervals().fit([0.5], [0.4], [float("nan")], [0.5], ["prior"])
    assert error.value.field == "pairs" and "finite" in str(error.value)
    with pytest.raises(InvalidInputError) as error:
        ConformalIntervals().fit([0.5], [0.4], [0.6], [0.5], ["prior"]).transform([0.5], [0.4], [0.6], ["prior"], 1.5)
    assert error.value.field == "level"
