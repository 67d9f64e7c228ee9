"""The fine-tuning phase axis (predictors/accuracy/phase.py) and the pre-power mixture it drives (issue #12 item 2)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from predictors.accuracy.features import Observation, make_observation
from predictors.accuracy.phase import jump_probability, law_steps, phase_steps
from predictors.accuracy.tiers import RATE_RISK_SD_PER_E_FOLD, predict_accuracies

LORA = {"name": "lora"}


def lora(examples: int, accuracy: float | None = None, **settings: float) -> Observation:
    """A LoRA run of model ``m`` on binary task ``t`` scored on 100 test examples."""
    return Observation(
        "m", LORA, "t", n_choices=2, train_examples=examples, accuracy=accuracy,
        eval_examples=100 if accuracy is not None else None, **settings,  # type: ignore[arg-type]
    )  # fmt: skip


NOT_LEARNED = [lora(16, 0.50, epochs=3), lora(32, 0.44, epochs=3)]  # 6 and 12 steps at 8 a step
LINEAR_PROBE = Observation("m", {"name": "linear_probe"}, "t", n_choices=2, train_examples=128, accuracy=0.75)


def learned_from_probe(accuracy: float = 0.75) -> float:
    """The learned level a linear probe at ``accuracy`` gives: mapped by the calibration fitted on the
    corpus's other tasks (predictors/accuracy/probe_level.py)."""
    from predictors.accuracy.probe_level import corpus_probe_level

    calibration = corpus_probe_level("t", 0.9, "lora")
    assert calibration is not None
    return float(calibration.predict_interval([accuracy])[0][0])


def forecast(candidate: Observation, measurements: list[Observation]) -> tuple[float, float, float, str]:
    (found,) = predict_accuracies([candidate], measurements=measurements)
    return found.mean, found.lower, found.upper, found.predictor


def test_probes_on_equal_examples_with_other_epochs_or_batch_are_other_steps() -> None:
    """Steps = ⌈examples × epochs / (micro-batch × accumulation)⌉, as the workers count them."""
    one = make_observation(model_id="m", method=LORA, task="t", training={"train_examples": 64, "epochs": 1})
    three = make_observation(model_id="m", method=LORA, task="t", training={"train_examples": 64, "epochs": 3})
    small = make_observation(
        model_id="m", method=LORA, task="t",
        training={"train_examples": 64, "epochs": 1, "micro_batch_size": 2, "gradient_accumulation_steps": 2},
    )  # fmt: skip
    assert small.sequences_per_step == 4 and one.sequences_per_step is None  # None: the default 8
    assert (phase_steps(one), phase_steps(three), phase_steps(small)) == (8, 24, 16)
    # The data law's axis is one pass: epochs move it by their measured offset instead.
    assert law_steps(one) == law_steps(three) == 8 and law_steps(small) == 16


def test_probes_in_the_pre_power_phase_forecast_a_mixture_spanning_both_levels() -> None:
    """Probes at 6 and 12 steps have not learned (0.50, 0.44 against chance 0.5): a run of 24 steps is
    "still not learned" or "learned" (the linear probe's 0.75, calibrated) with weight 1 − 12/24, and its
    interval spans both levels."""
    mean, lower, upper, predictor = forecast(lora(64, epochs=3), [*NOT_LEARNED, LINEAR_PROBE])
    assert predictor.startswith("pre-power mixture (0.50 learned: linear-probe level")
    assert mean == pytest.approx(0.5 * 0.44 + 0.5 * learned_from_probe())
    assert lower < 0.44 < 0.75 < upper


def test_a_probe_past_the_jump_pins_the_mixture() -> None:
    """A probe at 48 steps that learned (0.80) bounds the jump to (12, 48] steps: a run of 24 steps gets the
    truncated weight (1 − 12/24) / (1 − 12/48) = 2/3, and a run beyond 48 steps is learned, its interval no
    longer reaching down to the not-learned level."""
    past = lora(128, 0.80, epochs=3)
    before = forecast(lora(256, epochs=3), [*NOT_LEARNED, LINEAR_PROBE])
    after = forecast(lora(256, epochs=3), [*NOT_LEARNED, past, LINEAR_PROBE])
    assert before[1] < 0.44 and after[1] > 0.6
    assert after[2] - after[1] < before[2] - before[1]
    assert after[3].startswith("pre-power mixture (1.00 learned: probe past the jump")
    # One probe past the jump gives a level, no slope: "learned" is flat from it (0.80) or the power law
    # through the jump (errors 0.56 at 4 one-pass steps, 0.20 at 16), evenly; no linear probe needed now.
    between = forecast(lora(64, epochs=3), [*NOT_LEARNED, past])
    assert between[3].startswith("pre-power mixture (0.67 learned: probe past the jump, flat or power")
    steep = 1 - 0.56 * (0.20 / 0.56) ** 0.5  # at 8 one-pass steps
    assert between[0] == pytest.approx(0.44 / 3 + (0.80 + steep) / 2 * 2 / 3)


def test_a_probe_that_falls_back_after_learning_is_not_the_pre_power_phase() -> None:
    """More passes over the same data can lower accuracy (COSMOS HellaSwag; man-admin's LoRA on 64 examples
    for 6 epochs): a probe at the not-learned level at more steps than one that has learned is a point of
    the learned curve, not a sign that the jump is still to come."""
    probes = [lora(16, 0.60, epochs=3), lora(32, 0.72, epochs=3), lora(32, 0.56, epochs=12)]  # 6, 12, 48 steps
    mean, _, _, predictor = forecast(lora(128, epochs=3), probes)  # 48 steps, as many as the 12-epoch probe
    assert predictor.startswith("rectified_data") and "epochs offset" in predictor and mean > 0.72


def test_the_learning_rate_scales_the_steps() -> None:
    """The probes ran at a tenth of LoRA's default rate (1e-4 against 1e-3): 12 steps there are 1.2 at the
    default rate, so a default-rate run of 12 steps is most likely past the jump (1 − 1.2/12 = 0.9), where
    the same probes at the default rate say it has not learned."""
    slow = [lora(16, 0.50, epochs=3, learning_rate=1e-4), lora(32, 0.44, epochs=3, learning_rate=1e-4)]
    assert phase_steps(slow[1]) == pytest.approx(1.2)
    target = lora(30, epochs=3)  # ⌈11.25⌉ = 12 steps, and not a measured configuration
    at_default = forecast(target, [*NOT_LEARNED, LINEAR_PROBE])
    at_slow = forecast(target, [*slow, LINEAR_PROBE])
    assert at_default[3].startswith("pre-power mixture (0.00 learned") and at_default[0] == pytest.approx(0.44)
    assert at_slow[3].startswith("pre-power mixture (0.90 learned")
    assert at_slow[0] == pytest.approx(0.1 * 0.44 + 0.9 * learned_from_probe())
    # A target at the probes' own slow rate is 1.2 steps too: not learned.
    assert forecast(lora(30, epochs=3, learning_rate=1e-4), [*slow, LINEAR_PROBE])[0] == pytest.approx(0.44)
    # A measured run answers only for its own rate: the slow run is not a measurement of the default one.
    assert forecast(lora(32, epochs=3), [*slow, LINEAR_PROBE])[3].startswith("pre-power mixture (0.90 learned")


def test_probes_above_their_zero_shot_level_have_learned() -> None:
    """The not-learned level is the model's zero-shot accuracy on the task, never below chance: probes
    rising from 0.70 to 0.80 above a 0.56 zero-shot are past the jump and get the data law, probes at
    0.55 and 0.58 are within its sampling error and do not."""
    zero_shot = Observation("m", {"name": "zero_shot"}, "t", n_choices=2, accuracy=0.56, eval_examples=100)
    learning = [lora(16, 0.70, epochs=3), lora(32, 0.80, epochs=3)]
    flat = [lora(16, 0.55, epochs=3), lora(32, 0.58, epochs=3)]
    assert forecast(lora(128, epochs=3), [zero_shot, *learning])[3].startswith("rectified_data")
    assert forecast(lora(128, epochs=3), [zero_shot, *flat, LINEAR_PROBE])[3].startswith("pre-power mixture")


def test_jump_probability_is_zero_at_the_last_not_learned_probe_and_one_past_a_learned_one() -> None:
    assert jump_probability(10, 10) == 0.0 and jump_probability(5, 10) == 0.0
    assert jump_probability(20, 10) == pytest.approx(0.5) and jump_probability(1e9, 10) < 1.0
    assert jump_probability(40, 10, 40) == 1.0 and jump_probability(20, 10, 40) == pytest.approx(0.5 / 0.75)


def test_a_measurement_keeps_its_learning_rate_and_batch() -> None:
    """A stored run's learning rate, steps (run options) and batch reach the phase axis; junk does not."""
    row = make_observation(
        model_id="m", method=LORA, task="t", training={"train_examples": 32, "micro_batch_size": 4},
        learning_rate=5e-4, accuracy=0.6,
    )  # fmt: skip
    assert (row.sequences_per_step, row.learning_rate, phase_steps(row)) == (4, 5e-4, pytest.approx(4.0))
    junk = make_observation(
        model_id="m", method=LORA, task="t", training={"train_examples": 32, "micro_batch_size": "x"},
        learning_rate="fast",
    )  # fmt: skip
    assert (junk.sequences_per_step, junk.learning_rate) == (None, None)
    capped = make_observation(
        model_id="m", method=LORA, task="t", training={"train_examples": 32}, optimizer_steps=2, learning_rate=1e-3
    )
    assert phase_steps(capped) == 2  # a run's ``steps`` option overrode the epochs' count


def test_a_rate_above_the_default_reaches_the_jump_sooner_but_is_not_more_data() -> None:
    """A step moves the weights about lr (Adam), so the phase axis scales with the rate both ways: 3x
    LoRA's default (1e-3) is three times the steps toward the jump. The data law's axis does not count a
    higher rate as more data (own runs at 3x the rate: man-admin ended lower, 0.56 against 0.69)."""
    default = lora(64, epochs=3)
    assert phase_steps(lora(64, epochs=3, learning_rate=3e-4)) == pytest.approx(0.3 * phase_steps(default))
    assert law_steps(lora(64, epochs=3, learning_rate=3e-4)) == pytest.approx(0.3 * law_steps(default))
    assert phase_steps(lora(64, epochs=3, learning_rate=3e-3)) == pytest.approx(3 * phase_steps(default)) == 72
    assert law_steps(lora(64, epochs=3, learning_rate=3e-3)) == law_steps(default) == 8


def test_an_untried_rate_above_the_default_widens_the_interval_not_the_level() -> None:
    """Probes at the default rate cannot place the peak of accuracy against the rate: a candidate at 3x keeps
    the level the default gives and a wider interval; once a run at that rate exists, no widening."""
    probes = [lora(16, 0.60, epochs=3), lora(32, 0.70, epochs=3)]
    at_default = forecast(lora(64, epochs=3), probes)
    fast = lora(64, epochs=3, learning_rate=3e-3)
    mean, lower, upper, predictor = forecast(fast, probes)
    assert mean == pytest.approx(at_default[0]) and "widened for a rate 3x the default" in predictor
    half = 1.6449 * RATE_RISK_SD_PER_E_FOLD * np.log(3)
    assert mean - lower == pytest.approx(np.hypot(at_default[0] - at_default[1], half), abs=1e-3)
    assert upper - mean == pytest.approx(min(np.hypot(at_default[2] - at_default[0], half), 1 - mean), abs=1e-3)
    tried = forecast(fast, [*probes, lora(32, 0.72, epochs=3, learning_rate=3e-3)])
    assert "widened" not in tried[3]


def test_a_probe_that_learned_with_more_passes_does_not_pin_a_run_with_fewer() -> None:
    """LoRA on 16 examples had not learned (0.50, 6 steps), on 32 it had (0.80, 12 steps), both for three
    epochs. A three-epoch run on 128 (48 steps) is past the jump; a one-epoch run on 128 (16 steps) is not
    pinned by the 3-epoch probe: 1 − 6/16 learned, its interval down to the not-learned level (our own
    runs: one epoch on 128 ended below three on six of six tasks)."""
    probes = [lora(16, 0.50, epochs=3), lora(32, 0.80, epochs=3)]
    three = forecast(lora(128, epochs=3), probes)
    one = forecast(lora(128, epochs=1), probes)
    assert three[3].startswith("pre-power mixture (1.00 learned")
    assert one[3].startswith("pre-power mixture (0.62 learned") and one[1] < 0.50 < three[1]
    assert one[0] == pytest.approx(0.375 * 0.50 + 0.625 * three[0], abs=1e-3)
    # a one-epoch probe that learned does pin it
    pinned = forecast(lora(128, epochs=1), [*probes, lora(80, 0.78, epochs=1)])  # 10 steps, one pass
    assert pinned[3].startswith("pre-power mixture (1.00 learned")


def test_the_learned_level_is_above_the_zero_shot_level_it_is_tested_against() -> None:
    """ "Learned" means above the not-learned level (the zero-shot probe) by the test's margin, so the
    mixture's learned part is never below it, whatever the linear probe says (fortune-school's own runs:
    zero-shot 0.80, LoRA on 16 and 32 at 0.50 and 0.45, a linear probe at 0.63, LoRA on 128 then 0.92)."""
    zero_shot = Observation("m", {"name": "zero_shot"}, "t", n_choices=2, accuracy=0.80, eval_examples=100, shots=0)
    low_probe = Observation("m", {"name": "linear_probe"}, "t", n_choices=2, train_examples=128, accuracy=0.60)
    mean, lower, upper, predictor = forecast(lora(128, epochs=3), [*NOT_LEARNED, low_probe, zero_shot])
    shrunk = (0.80 * 100 + 0.5) / 101  # sampling_variance's shrinkage off 0 and 1
    bound = 0.80 + NormalDist().inv_cdf(0.95) * np.sqrt(2 * shrunk * (1 - shrunk) / 100)
    assert learned_from_probe(0.60) < bound
    assert "raised to the not-learned level's" in predictor
    assert mean == pytest.approx(0.25 * 0.44 + 0.75 * bound)
    assert lower < 0.44 and upper > bound
    # where the probe's level clears the bound, it stands as it was
    without = forecast(lora(128, epochs=3), [*NOT_LEARNED, LINEAR_PROBE])
    assert "raised" not in without[3]
