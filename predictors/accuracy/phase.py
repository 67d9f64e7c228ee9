"""The axis a fine-tune learns along: optimizer steps, scaled by the learning rate, and the pre-power jump.

With few optimizer steps a fine-tune stays near its zero-shot level, then jumps (the pre-power phase of
Lin et al. 2024, arXiv:2402.02314, Sec. 3; learning-rate warm-up; too few steps). What moves a run out of
that phase is how far the optimizer has moved the weights, so the phase is read on optimizer steps
(examples × epochs / sequences per step, as the workers count them), not on examples: two probes on the
same examples with other epochs or batch sizes are other points of it.

The learning rate is a covariate, not ignored: steps are scaled by lr / lr_ref, lr_ref the method's
default rate. Adam's update of a weight is bounded by about the step size α whatever the gradient's scale
(Kingma & Ba 2015, arXiv:1412.6980, Sec. 2.1), so the distance from the pre-trained weights after s steps
grows as α·s; to first order a run at a tenth of the rate is a run of a tenth of the steps, and one at three
times the rate reaches the jump in a third of them. On the data law's axis (:func:`law_steps`) a rate above
the default is not more data (:func:`_data_scale`): what it costs past the peak is not modelled, and the
interval says so (:func:`predictors.accuracy.tiers._with_rate_risk`). Our first-order model: it ignores
the schedule's shape (warm-up), and that below the critical batch size progress follows the examples seen
more than the steps (McCandlish et al. 2018, arXiv:1812.06162), so it is surest for runs that differ in
epochs and rate rather than in batch.
"""

from __future__ import annotations

import math

from predictors.accuracy.features import Observation
from predictors.cost.schemas import TrainingConfig
from predictors.methods import METHODS

__all__ = ["jump_probability", "law_steps", "learning_rate_scale", "passes", "phase_steps"]

DEFAULT_SEQUENCES_PER_STEP = TrainingConfig.model_fields["micro_batch_size"].default
"""Sequences per optimizer step of a run whose training does not say (a candidate's default micro-batch,
no accumulation)."""
DEFAULT_EPOCHS = float(TrainingConfig.model_fields["epochs"].default)


def learning_rate_scale(observation: Observation) -> float:
    """lr / lr_ref: the run's learning rate over its method's default (1 when the run does not say)."""
    spec = METHODS.get(str(observation.method.get("name")))
    if observation.learning_rate is None or spec is None:
        return 1.0
    return float(observation.learning_rate) / spec.default_learning_rate


def _data_scale(observation: Observation) -> float:
    """What a step is worth on the data law's axis against one at the default rate: lr / lr_ref below the
    default, 1 above it. A method's default rate is near its best, and accuracy against the rate is an
    inverted U past it (too high a rate ends worse, not higher: own runs at 3x LoRA's rate, man-admin 0.56
    against 0.69 at the default, fortune-subject 0.90 against 0.88), so a higher rate is not more data."""
    return min(learning_rate_scale(observation), 1.0)


def _sequences_per_step(observation: Observation) -> int:
    return int(observation.sequences_per_step or DEFAULT_SEQUENCES_PER_STEP)


def passes(observation: Observation) -> float:
    """Passes over its training examples a run makes: its epochs, the default when it names none."""
    return float(observation.epochs if observation.epochs is not None else DEFAULT_EPOCHS)


def phase_steps(observation: Observation) -> float | None:
    """Learning-rate-scaled optimizer steps, ⌈examples × epochs / sequences per step⌉ × lr / lr_ref (the
    workers' count, workers/finetune.py, or the steps a run recorded): the axis of the pre-power phase.
    None without training examples."""
    if not observation.train_examples:
        return None
    steps = observation.optimizer_steps or max(
        1, math.ceil(passes(observation) * observation.train_examples / _sequences_per_step(observation))
    )
    return steps * learning_rate_scale(observation)


def law_steps(observation: Observation) -> float | None:
    """Learning-rate-scaled optimizer steps of one pass, examples / sequences per step × lr / lr_ref: the
    data law's axis once the run has learned. Repeated passes are not new data (Muennighoff et al. 2023,
    arXiv:2305.16264: repeated tokens are worth less than fresh ones), and COSMOS's HellaSwag QLoRA runs
    lose accuracy with more passes at every data portion, so the epochs enter the law as their measured
    offset instead (:meth:`predictors.accuracy.tiers.MeasurementIndex.power_law`). With the batch and rate of
    every run alike this is the examples axis of Lin et al. (2024), rescaled."""
    if not observation.train_examples:
        return None
    return observation.train_examples / _sequences_per_step(observation) * _data_scale(observation)


def jump_probability(steps: float, not_learned_steps: float, learned_steps: float | None = None) -> float:
    """Probability that a run of ``steps`` is past the jump, given a probe that had not learned at
    ``not_learned_steps`` and, when one has, the fewest steps at which a probe had (``learned_steps``).

    Where the jump comes is not known (Lin et al. give no location), only that it is above the largest
    not-learned probe. Our prior: its height above that probe in log steps, u = ln(s_jump / s_nl), is
    exponential with mean 1 (a constant chance of jumping per e-fold of further steps), so
    P(past the jump at s) = 1 − s_nl / s: 0 at the probe, ½ at twice its steps. A learned probe at s_l
    bounds the jump from above: the prior truncated to [s_nl, s_l], 1 from s_l on.
    """
    if steps <= not_learned_steps:
        return 0.0
    if learned_steps is not None and steps >= learned_steps:
        return 1.0
    p = 1.0 - not_learned_steps / steps
    if learned_steps is not None and learned_steps > not_learned_steps:
        p /= 1.0 - not_learned_steps / learned_steps
    return min(max(p, 0.0), 1.0)
