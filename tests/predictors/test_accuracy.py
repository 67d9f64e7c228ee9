"""Accuracy tiers: measured > probe > prior, and the prior's intervals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation
from predictors.accuracy.prior import NotFittedError, PriorPredictor
from predictors.accuracy.tiers import Accuracy, predict_accuracies
from predictors.errors import InvalidInputError
from storage.catalogs import load_models_catalog
from tests.factories import ISSUE_12_METHODS, issue_12_grid, unrelated_task

CATALOG = {entry["id"]: ModelInfo.from_catalog(entry) for entry in load_models_catalog()}


def icl_probes(model: str = "llama-3-8b", task: str = "hellaswag") -> list[Observation]:
    """COSMOS's HellaSwag probes for Llama 3 8B: 0-, 1- and 8-shot (cosmos.md App. J table)."""
    return [
        Observation(model, {"name": "zero_shot"}, task, accuracy=0.316, source="import:cosmos"),
        Observation(model, {"name": "rag_icl", "shots": 1}, task, accuracy=0.526, source="import:cosmos"),
        Observation(model, {"name": "rag_icl", "shots": 8}, task, accuracy=0.620, source="import:cosmos"),
    ]


def shot_probes(accuracy_by_shots: dict[int, float], eval_examples: int) -> list[Observation]:
    """Few-shot probes of model ``m`` on the 2-choice task ``t``, one per number of shots (0: zero-shot)."""
    return [
        Observation(
            "m",
            {"name": "icl", "shots": shots} if shots else {"name": "zero_shot"},
            "t",
            n_choices=2,
            accuracy=accuracy,
            eval_examples=eval_examples,
        )
        for shots, accuracy in accuracy_by_shots.items()
    ]


@pytest.mark.parametrize(("shots", "released"), [(2, 0.591), (4, 0.617), (16, 0.620)])
def test_icl_probe_tier_reproduces_cosmos_hellaswag(shots: int, released: float) -> None:
    (forecast,) = predict_accuracies(
        [Observation("llama-3-8b", {"name": "rag_icl", "shots": shots}, "hellaswag")], measurements=icl_probes()
    )
    assert forecast.tier == "probe" and forecast.predictor.startswith("icl_shots")
    assert forecast.mean == pytest.approx(released, abs=0.001)
    assert forecast.lower < forecast.mean < forecast.upper


def test_measured_tier_wins_over_probes() -> None:
    (forecast,) = predict_accuracies(
        [Observation("llama-3-8b", {"name": "rag_icl", "shots": 8}, "hellaswag")], measurements=icl_probes()
    )
    assert (forecast.tier, forecast.mean) == ("measured", 0.620)
    assert "import:cosmos" in forecast.predictor


def test_a_measured_run_keeps_its_test_sets_sampling_error() -> None:
    """Issue #14: one run scored on 200 examples was reported as [0.70, 0.70]. The measured tier's interval
    holds the binomial sampling error of the runs' test sets at the level asked (and their spread); a run
    that does not say how many examples scored it keeps its value alone."""
    from statistics import NormalDist

    candidate = Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=100)

    def measured(*runs: tuple[float, int | None], level: float = 0.9) -> Accuracy:
        rows = [
            dataclasses.replace(candidate, accuracy=a, eval_examples=n, source=f"run:{i}")
            for i, (a, n) in enumerate(runs)
        ]
        (forecast,) = predict_accuracies([candidate], measurements=rows, level=level)
        assert forecast.tier == "measured"
        return forecast

    one = measured((0.70, 200))
    p = (0.70 * 200 + 0.5) / 201
    half = NormalDist().inv_cdf(0.95) * (p * (1 - p) / 200) ** 0.5
    assert (one.lower, one.mean, one.upper) == pytest.approx((0.70 - half, 0.70, 0.70 + half))
    assert measured((0.70, 8)).upper - measured((0.70, 8)).lower > 4 * half  # 8 examples say far less
    assert measured((0.70, 200), level=0.5).upper - 0.70 < half  # the level asked
    spread = measured((0.60, 200), (0.80, 200))
    assert spread.lower <= 0.60 and spread.upper >= 0.80 and spread.mean == pytest.approx(0.70)
    assert (measured((0.70, None)).lower, measured((0.70, None)).upper) == (0.70, 0.70)


def test_data_law_tier_from_two_small_finetunes() -> None:
    probes = [
        Observation("m", {"name": "lora"}, "t", train_examples=100, accuracy=0.60),
        Observation("m", {"name": "lora"}, "t", train_examples=1000, accuracy=0.75),
    ]
    (forecast,) = predict_accuracies(
        [Observation("m", {"name": "lora"}, "t", train_examples=10_000)], measurements=probes
    )
    assert forecast.tier == "probe" and forecast.predictor.startswith("rectified_data")
    # error falls by the same factor per decade: 0.40 -> 0.25 -> 0.15625
    assert forecast.mean == pytest.approx(1 - 0.25 * 0.25 / 0.40)


def test_proxy_tier_maps_linear_probe_affinely() -> None:
    rows = []
    for model, probe, tuned in (("a", 0.50, 0.70), ("b", 0.60, 0.80), ("c", 0.70, 0.90)):
        rows += [
            Observation(model, {"name": "linear_probe"}, "t", accuracy=probe),
            Observation(model, {"name": "lora", "rank": 8}, "t", accuracy=tuned),
        ]
    rows.append(Observation("d", {"name": "linear_probe"}, "t", accuracy=0.65))
    (forecast,) = predict_accuracies([Observation("d", {"name": "lora", "rank": 8}, "t")], measurements=rows)
    assert forecast.tier == "probe" and "proxy" in forecast.predictor
    assert forecast.mean == pytest.approx(0.85)


def test_uninformed_prior_without_measurements() -> None:
    (forecast,) = predict_accuracies([Observation("m", {"name": "lora"}, "t", n_choices=4)])
    assert (forecast.tier, forecast.lower, forecast.upper) == ("prior", 0.25, 1.0)


def _benchmark_observations() -> list[Observation]:
    rows = []
    for model_id, model in CATALOG.items():
        for task in ("MMLU", "HellaSwag", "ARC-C", "Winograd"):
            if task in model.benchmarks:
                n = 2 if task == "Winograd" else 4
                rows.append(
                    Observation(
                        model_id, {"name": "icl", "shots": 5}, task, n_choices=n, accuracy=model.benchmarks[task]
                    )
                )
    return rows


def test_prior_fits_and_covers_held_out_measurements() -> None:
    rows = _benchmark_observations()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    train = [rows[i] for i in order[: int(0.8 * len(rows))]]
    test = [rows[i] for i in order[int(0.8 * len(rows)) :]]
    prior = PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), train)
    mean, lower, upper = prior.predict_interval(test)
    actual = np.array([o.accuracy for o in test])
    assert np.mean(np.abs(mean - actual)) < 0.08
    coverage = np.mean((actual >= lower) & (actual <= upper))
    assert coverage >= 0.75, coverage
    assert np.all(lower <= mean) and np.all(mean <= upper)


def test_prior_is_deterministic_given_random_state() -> None:
    rows = _benchmark_observations()
    a = PriorPredictor(random_state=3).fit(FeatureBuilder(CATALOG), rows).predict(rows[:10])
    b = PriorPredictor(random_state=3).fit(FeatureBuilder(CATALOG), rows).predict(rows[:10])
    assert np.array_equal(a, b)


def test_prior_needs_enough_measurements() -> None:
    with pytest.raises(InvalidInputError, match="at least 10"):
        PriorPredictor().fit(FeatureBuilder(CATALOG), _benchmark_observations()[:3])


def test_prior_unfitted_predict_raises() -> None:
    with pytest.raises(NotFittedError):
        PriorPredictor().predict(_benchmark_observations()[:1])


def test_unknown_method_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as error:
        FeatureBuilder(CATALOG).matrix([Observation("llama-3-8b", {"name": "magic"}, "t")])
    assert error.value.field == "[0].method.name"


def test_duplicate_candidates_share_one_forecast_in_order() -> None:
    probes = icl_probes()
    a = Observation("llama-3-8b", {"name": "rag_icl", "shots": 2}, "hellaswag")
    b = Observation("llama-3-8b", {"name": "rag_icl", "shots": 4}, "hellaswag")
    alone = predict_accuracies([a, b], measurements=probes)
    repeated = predict_accuracies([a, b, a, b, b], measurements=probes)
    assert repeated == [alone[0], alone[1], alone[0], alone[1], alone[1]]


@pytest.fixture(scope="module")
def seed_prior() -> PriorPredictor:
    from predictors.accuracy.corpus import load_seed_observations

    return PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), list(load_seed_observations()))


def _anchored(prior: PriorPredictor, candidate: Observation, anchors: list[Observation]) -> float:
    """The regression-kriging level shift by hand: prior(candidate) + mean(anchor - prior(anchor))."""
    mean = prior.predict([candidate, *anchors])
    return float(mean[0] + np.mean([a.accuracy - m for a, m in zip(anchors, mean[1:], strict=True)]))


def test_prior_is_anchored_on_the_models_own_runs_of_the_same_method(seed_prior: PriorPredictor) -> None:
    lora = [
        Observation(
            "llama-2-7b", {"name": "lora", "rank": 8}, "newtask", n_choices=2, train_examples=500, accuracy=0.71
        ),
        Observation(
            "llama-2-7b", {"name": "lora", "rank": 8}, "newtask", n_choices=2, train_examples=500, accuracy=0.75
        ),
    ]
    ia3 = Observation("llama-2-7b", {"name": "ia3"}, "newtask", n_choices=2, train_examples=500, accuracy=0.5)
    candidate = Observation("llama-2-7b", {"name": "lora", "rank": 32}, "newtask", n_choices=2, train_examples=500)
    (forecast,) = predict_accuracies([candidate], measurements=[*lora, ia3], prior=seed_prior)
    assert forecast.tier == "probe" and forecast.predictor.endswith("anchored on 2 runs of this method")
    assert forecast.mean == pytest.approx(_anchored(seed_prior, candidate, lora), abs=1e-9)


def test_a_method_without_runs_is_anchored_on_the_other_training_methods(seed_prior: PriorPredictor) -> None:
    """No IA3 run yet: the LoRA and full runs set the level; the linear probe and ICL runs do not."""
    runs = [
        Observation(
            "llama-2-7b", {"name": "lora", "rank": 8}, "newtask", n_choices=2, train_examples=500, accuracy=0.71
        ),
        Observation("llama-2-7b", {"name": "full"}, "newtask", n_choices=2, train_examples=500, accuracy=0.78),
    ]
    others = [
        Observation("llama-2-7b", {"name": "linear_probe"}, "newtask", n_choices=2, train_examples=500, accuracy=0.6),
        Observation("llama-2-7b", {"name": "icl", "shots": 4}, "newtask", n_choices=2, accuracy=0.55),
        Observation(
            "llama-2-13b", {"name": "lora", "rank": 8}, "newtask", n_choices=2, train_examples=500, accuracy=0.9
        ),
    ]
    candidate = Observation("llama-2-7b", {"name": "ia3"}, "newtask", n_choices=2, train_examples=500)
    (forecast,) = predict_accuracies([candidate], measurements=[*runs, *others], prior=seed_prior)
    assert forecast.tier == "probe"
    assert forecast.predictor.endswith("anchored on 2 runs of other methods (full, lora)"), forecast.predictor
    assert forecast.mean == pytest.approx(_anchored(seed_prior, candidate, runs), abs=1e-9)
    (alone,) = predict_accuracies([candidate], measurements=others[2:], prior=seed_prior)
    assert alone.tier == "prior"


def test_data_law_moves_by_the_epoch_offset_seen_at_the_probed_size() -> None:
    """Runs at 100 examples for 2 and 4 epochs (mean 0.60), one at 1000: the law goes through the
    per-size means, and a 4-epoch candidate gets the 4-epoch runs' offset (−0.02)."""
    probes = [
        Observation("m", {"name": "lora"}, "t", train_examples=100, epochs=2, accuracy=0.62),
        Observation("m", {"name": "lora"}, "t", train_examples=100, epochs=4, accuracy=0.58),
        Observation("m", {"name": "lora"}, "t", train_examples=1000, epochs=2, accuracy=0.75),
    ]
    at = {e: Observation("m", {"name": "lora"}, "t", train_examples=10_000, epochs=e) for e in (2, 4, 8)}
    four, two, eight = (predict_accuracies([at[e]], measurements=probes)[0] for e in (4, 2, 8))
    law = 1 - 0.25 * 0.25 / 0.40
    assert four.mean == pytest.approx(law - 0.02) and "epochs offset from 1 size" in four.predictor
    assert two.mean == pytest.approx(law + 0.02)
    assert eight.mean == pytest.approx(law) and "offset" not in eight.predictor  # no run at 8 epochs
    assert four.lower < four.mean < four.upper


def test_data_law_is_not_fitted_through_probes_that_did_not_learn() -> None:
    """16 and 32 examples at 0.50 and 0.44 on a binary task: no learning yet, so no law through them."""
    probes = [
        Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=16, accuracy=0.50),
        Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=32, accuracy=0.44),
    ]
    (forecast,) = predict_accuracies(
        [Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=128)], measurements=probes
    )
    assert not forecast.predictor.startswith("rectified_data")
    assert (forecast.tier, forecast.lower, forecast.upper) == ("prior", 0.5, 1.0)  # no prior given: uninformed


def test_probe_sampling_error_widens_an_exact_data_law_fit() -> None:
    """Two probes scored on 60 test examples each: the forecast inherits their binomial error, by the
    delta method in log-error space (t = 2 when extrapolating from 100 and 1000 to 10,000)."""
    import math
    from statistics import NormalDist

    def probes(n: int | None) -> list[Observation]:
        return [
            Observation("m", {"name": "lora"}, "t", train_examples=100, accuracy=0.60, eval_examples=n),
            Observation("m", {"name": "lora"}, "t", train_examples=1000, accuracy=0.75, eval_examples=n),
        ]

    target = Observation("m", {"name": "lora"}, "t", train_examples=10_000)
    (bare,) = predict_accuracies([target], measurements=probes(None))
    (noisy,) = predict_accuracies([target], measurements=probes(60))
    assert noisy.mean == pytest.approx(bare.mean) and "probe sampling error" in noisy.predictor
    band = bare.upper - bare.mean

    def variance(p: float) -> float:
        shrunk = (p * 60 + 0.5) / 61
        return shrunk * (1 - shrunk) / 60

    sd = (1 - bare.mean) * math.sqrt(variance(0.60) / 0.40**2 + 4 * variance(0.75) / 0.25**2)
    expected = math.hypot(band, NormalDist().inv_cdf(0.95) * sd)
    assert noisy.upper - noisy.mean == pytest.approx(min(expected, 1 - noisy.mean))
    assert noisy.mean - noisy.lower == pytest.approx(expected)


def test_probe_sampling_error_widens_an_exact_icl_fit() -> None:
    counted = [
        Observation(o.model_id, o.method, o.task, accuracy=o.accuracy, source=o.source, eval_examples=100)
        for o in icl_probes()
    ]
    candidate = [Observation("llama-3-8b", {"name": "rag_icl", "shots": 16}, "hellaswag")]
    (bare,) = predict_accuracies(candidate, measurements=icl_probes())
    (noisy,) = predict_accuracies(candidate, measurements=counted)
    assert noisy.mean == pytest.approx(bare.mean, abs=1e-3)  # the rise still outweighs flat by far
    assert noisy.upper - noisy.lower > bare.upper - bare.lower + 0.05  # ±0.027 becomes about ±0.084


def test_anchors_sampling_error_widens_the_anchored_prior(seed_prior: PriorPredictor) -> None:
    def runs(n: int | None) -> list[Observation]:
        return [
            Observation(
                "llama-2-7b",
                {"name": "lora", "rank": 8},
                "newtask",
                n_choices=2,
                train_examples=500,
                accuracy=0.71,
                eval_examples=n,
            )
        ]

    candidate = Observation("llama-2-7b", {"name": "ia3"}, "newtask", n_choices=2, train_examples=500)
    (bare,) = predict_accuracies([candidate], measurements=runs(None), prior=seed_prior)
    (noisy,) = predict_accuracies([candidate], measurements=runs(50), prior=seed_prior)
    assert noisy.mean == pytest.approx(bare.mean)
    assert noisy.lower < bare.lower and (noisy.upper > bare.upper or noisy.upper == 1.0)


def test_a_perfect_shot_law_fit_is_still_as_uncertain_as_its_probes() -> None:
    """Four flat probes on 100 examples: every form fits exactly, but the forecast keeps the nearest probe's
    sampling error with its own demonstration draw's spread, the corpus's (90 %: ±1.645·√(p(1−p)/n ⊕ σ²_draw)
    ≈ ±0.13; with COSMOS's ICL error alone it was ±0.086)."""
    from predictors.accuracy.demonstrations import corpus_draw_sd
    from scaling import COSMOS_ICL_SD

    assert corpus_draw_sd("t") > COSMOS_ICL_SD  # single-draw runs of a small model spread wider than COSMOS's

    flat = shot_probes({0: 0.56, 1: 0.56, 2: 0.56, 4: 0.56}, eval_examples=100)
    (forecast,) = predict_accuracies(
        [Observation("m", {"name": "icl", "shots": 8}, "t", n_choices=2)], measurements=flat
    )
    assert forecast.predictor.startswith("icl_shots") and forecast.mean == pytest.approx(0.56, abs=1e-3)
    half_width = 1.645 * float(np.hypot((0.56 * 0.44 / 100) ** 0.5, corpus_draw_sd("t")))
    assert forecast.upper - forecast.lower == pytest.approx(2 * half_width, rel=0.02)


def test_the_feature_matrix_is_the_same_row_by_row_and_in_one_block() -> None:
    """Columns are built per distinct (model, method) and as arrays: the same rows whatever the batch."""
    from predictors.accuracy.corpus import load_corpus_observations

    builder = FeatureBuilder(CATALOG)
    observations = list(load_corpus_observations())[:200]
    whole = builder.matrix(observations, task_means=[0.5] * len(observations))
    one_by_one = np.vstack([builder.matrix([o], task_means=[0.5]) for o in observations])
    assert np.array_equal(whole, one_by_one, equal_nan=True)


@pytest.fixture(scope="module")
def corpus_prior() -> PriorPredictor:
    from predictors.accuracy.corpus import load_corpus_observations

    return PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), list(load_corpus_observations()))


def test_a_larger_model_is_not_forecast_below_a_smaller_one_without_evidence(corpus_prior: PriorPredictor) -> None:
    """Issue #12: qwen2.5-0.5b QLoRA was forecast at 82.8 %, above llama-3.1-8b LoRA at 75.0 %."""
    grid = issue_12_grid()
    mean = dict(zip(((o.model_id, o.method["name"]) for o in grid), corpus_prior.predict(grid), strict=True))
    assert mean[("llama-3.1-8b", "lora")] >= mean[("qwen2.5-0.5b", "qlora")]
    for method in ISSUE_12_METHODS:
        assert mean[("llama-3.1-8b", method["name"])] >= mean[("qwen2.5-0.5b", method["name"])], method


def test_larger_models_of_one_family_are_never_ranked_below_smaller_ones(corpus_prior: PriorPredictor) -> None:
    """Monotone constraints on capability, size, tokens and trainable parameters, and PC1 from compute for
    the families without benchmark scores (Qwen2.5, SmolLM2): within such a family larger is never lower."""
    from predictors.architecture import count_parameters

    families: dict[str, list[str]] = {}
    for entry in load_models_catalog():
        if not entry.get("benchmarks") and not entry["id"].endswith("-instruct"):
            families.setdefault(str(entry["family"]), []).append(entry["id"])
    assert {"Qwen2.5", "SmolLM2"} <= set(families)
    for family, members in families.items():
        members.sort(key=lambda m: count_parameters(CATALOG[m].architecture).total_params)
        for method in ISSUE_12_METHODS:
            mean = corpus_prior.predict(issue_12_grid(members, [method]))
            assert np.all(np.diff(mean) >= 0), (family, method, dict(zip(members, mean.round(3), strict=True)))


def test_the_prior_is_the_same_for_the_same_corpus_in_any_order() -> None:
    from predictors.accuracy.corpus import load_corpus_observations

    rows = list(load_corpus_observations())
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    one = PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), rows)
    other = PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), shuffled)
    assert np.array_equal(one.predict_interval(issue_12_grid()), other.predict_interval(issue_12_grid()))


def test_measurements_of_another_task_barely_move_a_forecast(corpus_prior: PriorPredictor) -> None:
    """Issue #12 item 6: 50 measurements of an unrelated task moved a candidate from 81.5 % to 58.4 %.

    The boosters learn from the corpus only; measurements are task effects, so another task's 50 rows move
    an unseen task's forecast by its pooled share (one task among the corpus's), within the retraining
    noise (other seeds on the same corpus), while that task's own forecasts follow its measurements."""
    from predictors.accuracy.corpus import load_corpus_observations

    corpus, grid = list(load_corpus_observations()), issue_12_grid()
    before = corpus_prior.predict(grid)
    noise = max(
        np.max(np.abs(PriorPredictor(random_state=s).fit(FeatureBuilder(CATALOG), corpus).predict(grid) - before))
        for s in (1, 2)
    )
    for seed in (1, 2, 3):
        extra = unrelated_task(seed)
        after = PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), corpus, extra)
        move = float(np.max(np.abs(after.predict(grid) - before)))
        assert move <= noise, (seed, move, noise)
        # the evidence about "another-task" itself moves its own forecasts towards what was measured: a task
        # 0.15 easier than the prior says (0.02 noise per run) is forecast near its measurements
        prior_says = corpus_prior.predict(extra)
        rng = np.random.default_rng(seed)
        measured = np.clip(prior_says + 0.15 + rng.normal(0.0, 0.02, len(extra)), 0.0, 1.0)
        easier = [dataclasses.replace(o, accuracy=float(a)) for o, a in zip(extra, measured, strict=True)]
        learned = PriorPredictor(random_state=0).fit(FeatureBuilder(CATALOG), corpus, easier).predict(easier)
        error_before = float(np.mean(np.abs(prior_says - measured)))
        error_after = float(np.mean(np.abs(learned - measured)))
        shift = float(np.abs(learned - prior_says).max())
        assert error_after < 0.5 * error_before and shift > 10 * move, (seed, error_before, error_after, shift, move)


def test_a_measured_task_is_refitted_when_a_model_only_it_uses_is_edited(corpus_prior: PriorPredictor) -> None:
    """A measured task's boosters are cached by content, and that content is the rows' features: editing a
    model that only this task's rows name (an imported model's architecture) fits them again, the same
    content does not."""
    import dataclasses

    from predictors.accuracy import prior
    from predictors.accuracy.corpus import load_corpus_observations

    corpus = list(load_corpus_observations())
    base = CATALOG["llama-3.1-8b"]
    rows = [dataclasses.replace(o, model_id="our-llama", task="our-task") for o in unrelated_task(4, n=12)]

    def forecast(architecture_of: str) -> np.ndarray:
        ours = dataclasses.replace(base, id="our-llama", architecture=CATALOG[architecture_of].architecture)
        return (
            PriorPredictor(random_state=0)
            .fit(FeatureBuilder({**CATALOG, "our-llama": ours}), corpus, rows)
            .predict(rows)
        )

    prior._TASK_MODELS.clear()
    large = forecast("llama-3.1-8b")
    assert len(prior._TASK_MODELS) == 1
    assert np.array_equal(forecast("llama-3.1-8b"), large) and len(prior._TASK_MODELS) == 1  # the same: cached
    small = forecast("llama-3.2-1b")
    assert len(prior._TASK_MODELS) == 2 and not np.allclose(small, large)  # the edit: fitted again


def test_a_fine_tune_that_has_not_started_learning_is_forecast_as_a_mixture() -> None:
    """LoRA on 16 and 32 examples at 0.50 and 0.44 (not learning yet), a linear probe at 0.75: a run on 128
    examples (16 optimizer steps at 8 a step) is "still not learned" (0.44) or "learned" (0.75) with weight
    1 − 4/16 by the steps, and its interval spans both levels until a probe past the jump pins it. The
    learned level is the linear probe mapped by the calibration fitted on the corpus's other tasks."""
    from predictors.accuracy.probe_level import corpus_probe_level

    calibration = corpus_probe_level("t", 0.9, "lora")
    assert calibration is not None
    learned = float(calibration.predict_interval([0.75])[0][0])
    lora = [
        Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=n, accuracy=a, eval_examples=100)
        for n, a in ((16, 0.50), (32, 0.44))
    ]
    probe = Observation("m", {"name": "linear_probe"}, "t", n_choices=2, train_examples=128, accuracy=0.75)
    (forecast,) = predict_accuracies(
        [Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=128)], measurements=[*lora, probe]
    )
    assert forecast.tier == "probe" and forecast.predictor.startswith("pre-power mixture (0.75 learned")
    assert f"linear-probe level, calibrated on {calibration.n_pairs_} tasks" in forecast.predictor
    assert forecast.mean == pytest.approx(0.25 * 0.44 + 0.75 * learned)
    assert forecast.lower < 0.44 - 0.05  # the LoRA probes' sampling error (100 examples) widens the floor
    # an unsized linear probe: the calibration's own half-width (at least the 0.05 floor), within [0, 1]
    assert forecast.upper == pytest.approx(min(1.0, learned + max(0.05, calibration.half_width_)))
    (inside,) = predict_accuracies(
        [Observation("m", {"name": "lora"}, "t", n_choices=2, train_examples=24)], measurements=[*lora, probe]
    )
    # Fewer steps (3) than a probe that has not learned (4): not learned either, no linear-probe level.
    assert inside.predictor.startswith("pre-power mixture (0.00 learned") and inside.mean == pytest.approx(0.44)
    assert inside.upper < 0.75


def test_falling_few_shot_probes_are_not_forecast_to_recover() -> None:
    """A small model losing accuracy with demonstrations (0.60, 0.52, 0.45 at 0, 1 and 4 shots on 200
    examples): 8 and 16 shots are forecast no higher than the 4-shot probe; the falling form keeps weight
    beside flat (the last step, 0.07, is about one demonstration draw's spread) and no rising form is fitted."""
    falling = shot_probes({0: 0.60, 1: 0.52, 4: 0.45}, eval_examples=200)
    targets = [Observation("m", {"name": "icl", "shots": d}, "t", n_choices=2) for d in (8, 16)]
    for forecast in predict_accuracies(targets, measurements=falling):
        assert "falling 0." in forecast.predictor and "rising" not in forecast.predictor
        assert forecast.mean <= 0.45 + 1e-9 and forecast.lower < forecast.mean < forecast.upper


def test_probe_laws_are_refitted_only_when_their_probes_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same plan twice fits the shot and data laws once (the second reads the memo); a new probe
    measurement is new input, so its law is refitted and the other law is not."""
    from predictors.accuracy import tiers
    from scaling import RectifiedDataLaw, ShotCurveAverage

    fits: list[str] = []
    for law in (ShotCurveAverage, RectifiedDataLaw):
        original = law.fit

        def spy(self: object, *args: object, _original: object = original, **kwargs: object) -> object:
            fits.append(type(self).__name__)
            return _original(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(law, "fit", spy)
    tiers.fit_shot_curve.cache_clear()
    tiers.fit_data_law.cache_clear()
    probes = [
        *icl_probes(),
        Observation("llama-3-8b", {"name": "lora"}, "hellaswag", train_examples=100, accuracy=0.60),
        Observation("llama-3-8b", {"name": "lora"}, "hellaswag", train_examples=1000, accuracy=0.75),
    ]
    candidates = [
        Observation("llama-3-8b", {"name": "rag_icl", "shots": 4}, "hellaswag"),
        Observation("llama-3-8b", {"name": "lora"}, "hellaswag", train_examples=10_000),
    ]
    first = predict_accuracies(candidates, measurements=probes)
    assert [f.tier for f in first] == ["probe", "probe"] and sorted(fits) == ["RectifiedDataLaw", "ShotCurveAverage"]
    fits.clear()
    assert predict_accuracies(candidates, measurements=probes) == first and fits == []
    new_probe = Observation("llama-3-8b", {"name": "rag_icl", "shots": 2}, "hellaswag", accuracy=0.58)
    moved = predict_accuracies(candidates, measurements=[*probes, new_probe])
    assert fits == ["ShotCurveAverage"] and moved[1] == first[1] and moved[0] != first[0]


def test_each_tier_names_the_measurements_it_was_fitted_on(seed_prior: PriorPredictor) -> None:
    """``Accuracy.evidence``: what a plan version compares to say which evidence moved a forecast."""
    from dataclasses import replace

    from predictors.accuracy.tiers import MAX_EVIDENCE_IDS

    probes = [replace(o, measurement_id=f"icl-{k}") for k, o in enumerate(icl_probes())]
    lora = [
        Observation("m", {"name": "lora"}, "t", train_examples=n, accuracy=a, measurement_id=f"lora-{n}")
        for n, a in ((100, 0.60), (1000, 0.75))
    ]
    other = Observation("m", {"name": "lora"}, "other-task", train_examples=500, accuracy=0.9, measurement_id="x")
    icl, measured, law, prior = predict_accuracies(
        [
            Observation("llama-3-8b", {"name": "rag_icl", "shots": 4}, "hellaswag"),
            Observation("llama-3-8b", {"name": "rag_icl", "shots": 8}, "hellaswag"),
            Observation("m", {"name": "lora"}, "t", train_examples=10_000),
            Observation("qwen2.5-0.5b", {"name": "lora"}, "t", train_examples=1000),
        ],
        measurements=[*probes, *lora, other],
        prior=seed_prior,
    )
    assert (icl.evidence, icl.n_evidence) == (("icl-0", "icl-1", "icl-2"), 3)
    assert (measured.tier, measured.evidence) == ("measured", ("icl-2",))
    assert (law.evidence, law.n_evidence) == (("lora-100", "lora-1000"), 2)  # not the other task's run
    assert (prior.tier, prior.evidence, prior.n_evidence) == ("prior", (), 0)  # the whole corpus, named by none
    assert icl.as_dict()["evidence"] == ["icl-0", "icl-1", "icl-2"]
    many = [
        Observation(
            "m", {"name": "lora"}, "t", train_examples=100 * (k + 1), accuracy=0.5 + k / 100, measurement_id=str(k)
        )
        for k in range(MAX_EVIDENCE_IDS + 4)
    ]
    (bounded,) = predict_accuracies([Observation("m", {"name": "lora"}, "t", train_examples=10**5)], measurements=many)
    assert bounded.n_evidence == MAX_EVIDENCE_IDS + 4 and bounded.evidence == tuple(
        str(k) for k in range(4, MAX_EVIDENCE_IDS + 4)
    )
