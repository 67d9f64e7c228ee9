"""The linear-probe level's calibration (issue #12 item 3): an affine map fitted across tasks, checked
inputs, a jackknife half-width, and the forecast task's own pair left out."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.accuracy.features import Observation
from predictors.accuracy.probe_level import LinearProbeLevel, corpus_probe_level, probe_level_pairs
from predictors.errors import InvalidInputError, NotFittedError


def test_the_map_is_the_line_through_the_pairs_and_its_interval_covers_new_ones() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.4, 0.95, 400)
    y = 0.9 * x + 0.08 + rng.normal(0, 0.03, 400)
    fitted = LinearProbeLevel(interval=0.9).fit(x[:200], y[:200])
    assert fitted.slope_ == pytest.approx(0.9, abs=0.05) and fitted.intercept_ == pytest.approx(0.08, abs=0.04)
    mean, lower, upper = fitted.predict_interval(x[200:])
    assert np.all((lower <= mean) & (mean <= upper))
    covered = np.mean((lower <= y[200:]) & (y[200:] <= upper))
    assert 0.85 <= covered <= 0.95
    assert np.all((0 <= lower) & (upper <= 1))


def test_bad_pairs_name_the_field_and_the_reason() -> None:
    with pytest.raises(InvalidInputError, match="at least 3"):
        LinearProbeLevel().fit([0.5, 0.6], [0.6, 0.7])
    with pytest.raises(InvalidInputError, match="one tuned accuracy per probe"):
        LinearProbeLevel().fit([0.5, 0.6, 0.7], [0.6, 0.7])
    with pytest.raises(InvalidInputError, match="no slope"):
        LinearProbeLevel().fit([0.5, 0.5, 0.5], [0.6, 0.7, 0.8])
    with pytest.raises(InvalidInputError, match="finite"):
        LinearProbeLevel().fit([0.5, float("nan"), 0.7], [0.6, 0.7, 0.8])
    with pytest.raises(NotFittedError):
        LinearProbeLevel().predict_interval([0.5])


def test_pairs_take_the_run_with_the_most_data_and_leave_the_forecast_task_out() -> None:
    rows = [
        Observation("m", {"name": "linear_probe"}, "a", accuracy=0.70),
        Observation("m", {"name": "lora"}, "a", train_examples=32, accuracy=0.50),
        Observation("m", {"name": "lora"}, "a", train_examples=128, accuracy=0.80),
        Observation("m", {"name": "full"}, "a", train_examples=128, accuracy=0.90),
        Observation("m", {"name": "linear_probe"}, "b", accuracy=0.60),  # no fine-tune: no pair
    ]
    assert probe_level_pairs(rows) == [(0.70, pytest.approx(0.85))]
    assert probe_level_pairs(rows, exclude_task="a") == []


def test_the_corpus_map_never_sees_the_task_it_forecasts() -> None:
    """Our own runs hold linear probes and fine-tunes on ten tasks: the map for one of them is fitted on
    the other nine."""
    everywhere, without = corpus_probe_level("no-such-task"), corpus_probe_level("number-compare")
    assert everywhere is not None and without is not None
    assert without.n_pairs_ == everywhere.n_pairs_ - 1


def test_pairs_read_the_fine_tune_that_went_furthest_of_the_method_asked_for() -> None:
    """fortune-theme's own runs: LoRA on 128 examples reached 0.78 at 48 steps; one epoch (16 steps) and a
    tenth of the rate had not started learning. The pair is what a fine-tune that learns reaches: the run
    at the most rate-scaled steps, of the candidate's method when asked."""
    lora = {"name": "lora"}
    rows = [
        Observation("m", {"name": "linear_probe"}, "a", accuracy=0.63),
        Observation("m", lora, "a", train_examples=128, epochs=3, accuracy=0.78),
        Observation("m", lora, "a", train_examples=128, epochs=1, accuracy=0.40),
        Observation("m", lora, "a", train_examples=128, epochs=3, learning_rate=1e-4, accuracy=0.42),
        Observation("m", {"name": "ia3"}, "a", train_examples=128, epochs=3, accuracy=0.48),
    ]
    assert probe_level_pairs(rows, method="lora") == [(0.63, pytest.approx(0.78))]
    assert probe_level_pairs(rows, method="ia3") == [(0.63, pytest.approx(0.48))]
    assert probe_level_pairs(rows) == [(0.63, pytest.approx((0.78 + 0.48) / 2))]  # every method at 48 steps
    assert probe_level_pairs(rows, method="full") == []


def test_a_method_with_too_few_pairs_is_calibrated_on_every_training_method() -> None:
    pooled, vera, lora = (corpus_probe_level("no-such-task", 0.9, m) for m in (None, "vera", "lora"))
    assert pooled is not None and vera is not None and lora is not None
    assert (vera.slope_, vera.n_pairs_) == (pooled.slope_, pooled.n_pairs_)
    assert lora.slope_ != pooled.slope_  # our own runs give LoRA pairs of its own
