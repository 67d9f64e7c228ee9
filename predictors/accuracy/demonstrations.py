"""How far one draw of demonstrations moves an in-context run's accuracy, beyond its test set's sampling.

A few-shot run draws its demonstrations at random; with another draw the same model, task and shot count
scores differently (label balance, order and recency: Zhao et al. 2021, "Calibrate Before Use",
arXiv:2102.09690; Lu et al. 2022, "Fantastically Ordered Prompts", arXiv:2104.08786). A shot curve fitted
through single-draw probes, and the run it forecasts, each carry that spread; the probes' binomial error
alone undercovers (issue #12, "ICL flat": 62 % of 90 % intervals held the run).

The spread is estimated from the corpus's own shot series (a model on a task at ≥ 3 positive shot counts):
neighbouring shot counts differ by the curve's local change plus two draws and two test-set errors, so

    σ²_draw ≈ mean over neighbours of ((a_{k+1} − a_k)² − v_k − v_{k+1}) / 2,

with v the binomial variance of each run's test set (:func:`~predictors.accuracy.features.sampling_variance`). The curve's own change is left in, so the estimate
errs wide. Like :mod:`predictors.accuracy.probe_level`, it is fitted on the shipped corpus without the
task being forecast.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable

from predictors.accuracy.features import Observation, observed_shots, sampling_variance
from predictors.methods import METHODS
from scaling import COSMOS_ICL_SD

__all__ = ["DRAWN_DEMONSTRATION_METHODS", "MIN_SHOT_SERIES", "corpus_draw_sd", "draw_sd", "run_draw_sd"]

DRAWN_DEMONSTRATION_METHODS = frozenset(
    name for name, spec in METHODS.items() if spec.demonstrations and "random" in spec.demonstrations
)
"""Methods whose demonstrations are drawn (ICL); retrieval picks them per query and keeps COSMOS's error."""

MIN_SHOT_SERIES = 2
"""Shot series (model, task) the estimate needs; with fewer, the shot law's own error (COSMOS) is used."""


def draw_sd(observations: Iterable[Observation]) -> float:
    """σ_draw from ``observations``' shot series of drawn-demonstration methods (module docstring), never below COSMOS's ICL error
    (:data:`scaling.COSMOS_ICL_SD`); that error itself when fewer than :data:`MIN_SHOT_SERIES` series."""
    series: dict[tuple[str, str], dict[int, Observation]] = defaultdict(dict)
    for o in observations:
        shots = observed_shots(o)
        drawn = o.method.get("name") in DRAWN_DEMONSTRATION_METHODS
        if drawn and shots is not None and shots > 0 and o.accuracy is not None and math.isfinite(o.accuracy):
            series[(o.model_id, o.task)][shots] = o
    usable = [runs for runs in series.values() if len(runs) >= 3]
    if len(usable) < MIN_SHOT_SERIES:
        return COSMOS_ICL_SD
    terms: list[float] = []
    for runs in usable:
        for a, b in itertools.pairwise(runs[k] for k in sorted(runs)):
            step = float(b.accuracy or 0.0) - float(a.accuracy or 0.0)
            # a published row without its test size keeps its sampling error in the estimate
            terms.append((step**2 - (sampling_variance([a]) or 0.0) - (sampling_variance([b]) or 0.0)) / 2)
    return max(COSMOS_ICL_SD, math.sqrt(max(0.0, sum(terms) / len(terms))))


@functools.lru_cache(maxsize=64)
def corpus_draw_sd(exclude_task: str) -> float:
    """:func:`draw_sd` of the shipped corpus (published rows and own runs) without ``exclude_task``."""
    from predictors.accuracy.corpus import load_corpus_observations

    return draw_sd(o for o in load_corpus_observations() if o.task != exclude_task)


def run_draw_sd(method_name: str, task: str) -> float:
    """The draw spread a few-shot run of ``method_name`` on ``task`` carries: the corpus's for drawn
    demonstrations, COSMOS's ICL error for retrieved ones."""
    return corpus_draw_sd(task) if method_name in DRAWN_DEMONSTRATION_METHODS else COSMOS_ICL_SD
