"""The corpus's second source: tunecast's own real runs (``predictors/data/own_runs.csv``).

The runs themselves are made by ``benchmarks/own_runs.py`` (SmolLM2-135M on CPU through the workers'
run bodies; the fine-tuning code paths are tested in ``tests/workers``). Here: the tasks it builds are
what they say, and the shipped rows are labelled, complete and usable by the prior.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.own_runs import (
    FORTUNE_LANGUAGES,
    FORTUNES,
    MAN_PAGES,
    MAN_SECTIONS,
    OWN_RUNS_CSV,
    REPEAT_TASKS,
    SEED,
    SEED_REPEATS,
    TASKS,
    fortune_topic_task,
    man_name_line,
    number_compare_task,
    run_plan,
    run_seed,
    seed_pairs,
)
from predictors.accuracy.corpus import (
    OWN_RUNS_COLUMNS,
    load_corpus_observations,
    load_own_run_observations,
    load_seed_observations,
)
from predictors.accuracy.features import FeatureBuilder, ModelInfo
from predictors.accuracy.prior import PriorPredictor
from storage.catalogs import load_models_catalog


def test_number_compare_labels_are_right() -> None:
    task = number_compare_task()
    assert len(task.rows) == 700
    for row in task.rows:
        a, b = map(int, re.findall(r"\d+", row["text"]))
        assert row["label"] == ("yes" if a > b else "no")
    counts = Counter(row["label"] for row in task.rows)
    assert abs(counts["yes"] - counts["no"]) < 70  # roughly balanced


@pytest.mark.skipif(not (FORTUNES / "computers").exists(), reason="Debian's fortunes package is not installed")
def test_fortune_topic_is_balanced_real_text() -> None:
    task = fortune_topic_task()
    assert task is not None
    counts = Counter(row["label"] for row in task.rows)
    assert set(counts) == set(task.labels) and len(set(counts.values())) == 1
    assert all(20 <= len(row["text"]) <= 100 for row in task.rows)
    assert len({row["text"] for row in task.rows}) == len(task.rows)


@pytest.mark.parametrize(
    "name", ["fortune-subject", "fortune-language", "man-section", "man-admin", "fortune-scene", "fortune-school"]
)
def test_text_tasks_are_balanced_distinct_and_short(name: str) -> None:
    task = TASKS[name]()
    if task is None:
        pytest.skip(f"{name}: its text is not installed")
    counts = Counter(row["label"] for row in task.rows)
    assert set(counts) == set(task.labels) and len(set(counts.values())) == 1
    assert len({row["text"] for row in task.rows}) == len(task.rows)
    assert all(15 <= len(row["text"]) <= 100 for row in task.rows)
    assert len(task.rows) - task.n_test >= 128  # the largest training size in the plan


@pytest.mark.skipif(not (FORTUNES / "it" / "italia").exists(), reason="fortunes-de/-es/-it are not installed")
def test_fortune_language_labels_come_from_the_language_packages() -> None:
    task = TASKS["fortune-language"]()
    assert task is not None
    assert set(task.labels) == set(FORTUNE_LANGUAGES)
    words = {"German": ("der", "die", "das", "ist", "und"), "English": ("the", "is", "and", "you", "of")}
    for label, common in words.items():
        texts = [row["text"].lower().split() for row in task.rows if row["label"] == label]
        others = [row["text"].lower().split() for row in task.rows if row["label"] not in words]
        assert sum(word in text for text in texts for word in common) > 20
        assert sum(word in text for text in others for word in common) < 5


@pytest.mark.skipif(not (MAN_PAGES / "man1" / "ls.1.gz").exists(), reason="coreutils' man pages are not installed")
def test_man_name_line_reads_the_name_section() -> None:
    assert man_name_line(MAN_PAGES / "man1" / "ls.1.gz") == "ls - list directory contents"
    assert set(MAN_SECTIONS.values()) == {"1", "3", "5", "8"}


def test_run_plan_pays_for_probes_before_targets() -> None:
    for name in TASKS:
        plan = run_plan(name)
        probes = [spec for spec in plan if spec.probe]
        assert plan[: len(probes)] == probes  # every probe runs before any target is predicted
        assert {spec.label for spec in probes} >= {"zero-shot", "icl-1", "icl-4", "linear-probe", "lora-16", "lora-32"}
        assert len({spec.label for spec in plan}) == len(plan)
    epochs = {spec.training.get("epochs") for name in TASKS for spec in run_plan(name) if spec.method["name"] == "lora"}
    assert epochs == {1, 3, 6}  # issue #12: LoRA at several epochs, not only data sizes


def test_seed_repeats_are_targets_at_another_seed_beside_their_originals() -> None:
    """A repeat is the same configuration at another seed, run (and forecast) after every probe; the pairs
    read back from a task's results put each beside its original."""
    plan = run_plan(REPEAT_TASKS[0])
    repeats = [spec for spec in plan if run_seed(spec) != SEED]
    by_label = {spec.label: spec for spec in plan}
    assert {spec.label.rsplit("-seed", 1)[0] for spec in repeats} == set(SEED_REPEATS)
    for spec in repeats:
        original = by_label[spec.label.rsplit("-seed", 1)[0]]
        assert not spec.probe and (spec.kind, spec.method, spec.training) == (
            original.kind,
            original.method,
            original.training,
        )
    assert not any(run_seed(spec) != SEED for spec in run_plan("number-compare"))
    results = {spec.label: {"accuracy": 0.5 + 0.01 * i, "n_test": 60} for i, spec in enumerate(plan)}
    pairs = seed_pairs(TASKS[REPEAT_TASKS[0]]() or number_compare_task(), plan, results)
    assert [p["run"] for p in pairs] == [spec.label.rsplit("-seed", 1)[0] for spec in repeats]
    for pair in pairs:
        first, again = pair["accuracy"]
        assert first == results[pair["run"]]["accuracy"] and again == results[f"{pair['run']}-seed1"]["accuracy"]


def shipped_rows() -> list[dict[str, str]]:
    with Path(OWN_RUNS_CSV).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_shipped_own_runs_are_labelled_and_complete() -> None:
    rows = shipped_rows()
    assert rows and list(rows[0]) == OWN_RUNS_COLUMNS
    catalog = {entry["id"] for entry in load_models_catalog()}
    for row in rows:
        assert row["task"] in TASKS and row["source"].startswith(f"own-run:{row['task']}/")
        assert "benchmarks/own_runs.py" in row["citation"] and row["model"] in catalog
        assert 0.0 <= float(row["accuracy"]) <= 1.0 and int(row["n_test"]) >= 60
    for task in {row["task"] for row in rows}:
        plan = {spec.label for spec in run_plan(task)}
        assert {row["source"].split("/", 1)[1] for row in rows if row["task"] == task} == plan


def test_each_shipped_target_keeps_the_forecast_made_before_it_ran() -> None:
    """What tunecast said before looking travels with the runs (not only in one machine's workdir): every
    target row has its forecast, interval, predictor and day; no probe row has one."""
    from benchmarks.own_runs import recorded_forecasts

    rows = shipped_rows()
    for task in sorted({row["task"] for row in rows}):
        spec = TASKS[task]()
        if spec is None:
            continue
        targets = {s.label for s in run_plan(task) if not s.probe}
        recorded = recorded_forecasts(spec)
        assert set(recorded) == targets
        for before in recorded.values():
            assert 0.0 <= before["lower"] <= before["mean"] <= before["upper"] <= 1.0
            assert before["predictor"] and re.fullmatch(r"2026-\d\d-\d\d", before["made_on"])


def test_corpus_is_both_sources_and_trains_the_prior() -> None:
    own = load_own_run_observations()
    seed = load_seed_observations()
    assert len(own) == len(shipped_rows()) and not any(o.source.startswith("own-run:") for o in seed)
    corpus = load_corpus_observations()
    assert corpus == (*seed, *own)
    builder = FeatureBuilder({e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()})
    prior = PriorPredictor(random_state=0).fit(builder, list(corpus))
    mean, lower, upper = prior.predict_interval(list(own))
    assert ((lower <= mean) & (mean <= upper)).all()


def test_each_target_is_labelled_with_what_its_probes_show() -> None:
    """The shipped probes: number-compare's ICL is flat (0.56 three times) and its LoRA runs had not
    started learning (0.50, 0.44); fortune-topic's ICL wobbles (0.38, 0.28, 0.48) and its LoRA learns."""
    from benchmarks.own_runs import exported_results, phenomenon

    plan = {spec.label: spec for spec in run_plan()}
    expected = {
        ("number-compare", "icl-8"): "ICL flat",
        ("number-compare", "lora-128"): "not learning yet",
        ("number-compare", "full-128"): "other method",
        ("fortune-topic", "icl-8"): "ICL wobbling",
        ("fortune-topic", "lora-128"): "learning",
    }
    tasks = {"number-compare": number_compare_task()}
    fortunes = fortune_topic_task()  # None without Debian's fortunes package
    if fortunes is not None:
        tasks["fortune-topic"] = fortunes
    for (name, label), shows in expected.items():
        if name not in tasks:
            continue
        results = exported_results(tasks[name])
        probes = {s.label: float(results[s.label]["accuracy"]) for s in plan.values() if s.probe}
        assert phenomenon(plan[label], probes, int(results["icl-4"]["n_test"])) == shows, (name, label)
