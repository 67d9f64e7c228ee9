"""The spread one draw of demonstrations adds to an ICL run (issue #12 item 1, "ICL flat" probes)."""

from __future__ import annotations

import math

import pytest

from predictors.accuracy.corpus import load_corpus_observations
from predictors.accuracy.demonstrations import DRAWN_DEMONSTRATION_METHODS, corpus_draw_sd, draw_sd, run_draw_sd
from predictors.accuracy.features import Observation
from predictors.accuracy.tiers import predict_accuracies
from scaling import COSMOS_ICL_SD


def series(task: str, levels: dict[int, float], *, method: str = "icl", n: int | None = None) -> list[Observation]:
    return [
        Observation("m", {"name": method, "shots": k}, task, n_choices=2, accuracy=a, eval_examples=n)
        for k, a in levels.items()
    ]


def test_neighbouring_shot_counts_that_zigzag_give_the_draws_spread() -> None:
    """Levels alternating 0.2 apart at 1, 2, 4, 8 shots: each neighbour step is two draws apart, so
    σ²_draw = 0.2² / 2; the zero-shot run draws nothing and is left out."""
    zigzag = {0: 0.9, 1: 0.4, 2: 0.6, 4: 0.4, 8: 0.6}
    rows = [*series("a", zigzag), *series("b", zigzag)]
    assert draw_sd(rows) == pytest.approx(math.sqrt(0.2**2 / 2))


def test_the_test_sets_sampling_error_is_not_counted_as_draw_spread() -> None:
    """Steps of 0.05 on 100 test examples are within two runs' binomial error: no draw spread beyond
    COSMOS's own ICL error, the floor."""
    steps = {1: 0.50, 2: 0.55, 4: 0.50, 8: 0.55}
    assert draw_sd([*series("a", steps, n=100), *series("b", steps, n=100)]) == COSMOS_ICL_SD
    assert draw_sd([*series("a", steps), *series("b", steps)]) > COSMOS_ICL_SD  # unsized: all of it counts


def test_too_few_series_or_retrieved_demonstrations_keep_cosmos_error() -> None:
    zigzag = {1: 0.4, 2: 0.6, 4: 0.4}
    assert draw_sd(series("a", zigzag)) == COSMOS_ICL_SD  # one series
    assert draw_sd([*series("a", zigzag, method="rag_icl"), *series("b", zigzag, method="rag_icl")]) == COSMOS_ICL_SD
    assert "icl" in DRAWN_DEMONSTRATION_METHODS and "rag_icl" not in DRAWN_DEMONSTRATION_METHODS
    assert run_draw_sd("rag_icl", "t") == COSMOS_ICL_SD


def test_the_corpus_estimate_leaves_the_forecast_task_out() -> None:
    """Fitted on the shipped corpus's own single-draw ICL runs (SmolLM2 on six tasks), never on the task
    being forecast, so a benchmark of those runs does not see its targets."""
    corpus = load_corpus_observations()
    task = next(o.task for o in corpus if o.task.startswith("man-section"))
    assert corpus_draw_sd(task) == draw_sd(o for o in corpus if o.task != task)
    assert corpus_draw_sd(task) != corpus_draw_sd("a-task-the-corpus-lacks")
    assert 0.03 < corpus_draw_sd("a-task-the-corpus-lacks") < 0.15


def test_an_icl_forecast_names_and_holds_the_draw_spread() -> None:
    probes = series("t", {0: 0.56, 1: 0.56, 4: 0.56}, n=100)
    (icl,) = predict_accuracies([Observation("m", {"name": "icl", "shots": 8}, "t", n_choices=2)], measurements=probes)
    spread = corpus_draw_sd("t")
    assert f"demonstration draw sd {spread:.3f}" in icl.predictor
    assert icl.upper - icl.lower == pytest.approx(
        2 * 1.645 * math.hypot(math.sqrt(0.56 * 0.44 / 100), spread), rel=0.01
    )
