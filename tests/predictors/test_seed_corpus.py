"""The seed corpus of published adaptation results (predictors/data/seed_measurements.csv).

Every row must be a real number read from a cited table: these tests check the file's shape, that
every method/config is one the registry accepts, that the ObsScaling-derived rows equal the shared
CSVs they were copied from, and a few known answers against the values printed in their sources
(see predictors/data/SEED_SOURCES.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from predictors.accuracy.corpus import SEED_COLUMNS
from predictors.methods import PRODUCT_METHOD_NAMES, parse_method

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
OBS_SOURCES = {
    "import:ObsScaling base_llm_benchmark_eval.csv@4d6e1e43": "base_llm_benchmark_eval.csv",
    "import:ObsScaling base_llm_post_training_eval.csv@4d6e1e43": "base_llm_post_training_eval.csv",
}
PAPER_SOURCES = {
    "import:COSMOS (Wang et al. 2025)",
    "import:LLM-Adapters (Hu et al. 2023)",
    "import:DoRA (Liu et al. 2024)",
    "import:QLoRA (Dettmers et al. 2023)",
    "import:LoRA (Hu et al. 2021)",
}
EXPECTED_ROWS = {  # per source; a change here must come with a SEED_SOURCES.md update
    "import:COSMOS (Wang et al. 2025)": 55,
    "import:LLM-Adapters (Hu et al. 2023)": 96,
    "import:DoRA (Liu et al. 2024)": 136,
    "import:QLoRA (Dettmers et al. 2023)": 63,
    "import:LoRA (Hu et al. 2021)": 24,
    "import:ObsScaling base_llm_benchmark_eval.csv@4d6e1e43": 367,
    "import:ObsScaling base_llm_post_training_eval.csv@4d6e1e43": 182,
}


def _text() -> str:
    return resources.files("predictors.data").joinpath("seed_measurements.csv").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_text())))


def _find(rows: list[dict[str, str]], **want: object) -> list[dict[str, str]]:
    out = []
    for r in rows:
        cfg = json.loads(r["method_config_json"])
        ok = True
        for key, value in want.items():
            if key.startswith("cfg_"):
                ok = ok and cfg.get(key[4:]) == value
            elif key == "table_contains":
                ok = ok and str(value) in r["table"]
            else:
                ok = ok and r[key] == value
        if ok:
            out.append(r)
    return out


def test_header_is_exact() -> None:
    first = next(csv.reader(io.StringIO(_text())))
    assert first == SEED_COLUMNS


def test_row_counts(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 300
    counts = Counter(r["source"] for r in rows)
    assert dict(counts) == EXPECTED_ROWS
    assert sum(counts[s] for s in PAPER_SOURCES) >= 100  # fine-tuning examples for the prior tier


def test_accuracy_is_a_fraction(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0, r


def test_methods_are_registered_and_configs_parse(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert r["method"] in PRODUCT_METHOD_NAMES, r
        config = json.loads(r["method_config_json"])
        assert isinstance(config, dict)
        parsed = parse_method({"name": r["method"], **config})
        assert parsed.name == r["method"]


def test_every_row_is_traceable(rows: list[dict[str, str]]) -> None:
    for r in rows:
        for field in ("model", "task", "metric", "source", "citation", "table", "url"):
            assert r[field].strip(), (field, r)
        assert r["source"].startswith("import:"), r
        assert r["task_kind"] in {"classification", "multiple_choice", "generation"}, r


def test_numeric_columns(rows: list[dict[str, str]]) -> None:
    for r in rows:
        for field in ("n_choices", "train_examples", "shots", "epochs"):
            if r[field]:
                assert int(r[field]) >= 0, (field, r)
        if r["n_choices"]:
            assert int(r["n_choices"]) >= 2
        if r["data_fraction"]:
            assert 0.0 < float(r["data_fraction"]) <= 1.0
        if r["method"] in {"icl", "rag_icl"}:
            assert int(r["shots"]) == json.loads(r["method_config_json"])["shots"]


def test_models_use_catalog_ids(rows: list[dict[str, str]]) -> None:
    catalog = json.loads((REPO_ROOT / "storage" / "catalogs" / "models.json").read_text())
    models = next(iter(catalog.values())) if isinstance(catalog, dict) else catalog
    by_id = {m["id"]: m["hf_id"] for m in models}
    by_hf = {m["hf_id"]: m["id"] for m in models}
    for r in rows:
        if r["model"] in by_id:
            assert r["model_hf_id"] == by_id[r["model"]], r
        if r["model_hf_id"] in by_hf:
            assert r["model"] == by_hf[r["model_hf_id"]], r


def test_no_duplicate_measurements(rows: list[dict[str, str]]) -> None:
    keys = Counter(
        (
            r["model"],
            r["method"],
            r["method_config_json"],
            r["task"],
            r["data_fraction"],
            r["epochs"],
            r["source"],
            r["table"],
        )
        for r in rows
    )
    assert [k for k, n in keys.items() if n > 1] == []


def test_obsscaling_rows_equal_shared_csv(rows: list[dict[str, str]]) -> None:
    folder = SHARED_DATA / "obsscaling"
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} is not present on this machine")
    tables = {}
    for source, name in OBS_SOURCES.items():
        with open(folder / name, newline="", encoding="utf-8") as fh:
            tables[source] = {rec["Model"]: rec for rec in csv.DictReader(fh)}
    checked = 0
    for r in rows:
        if r["source"] not in OBS_SOURCES:
            continue
        match = re.search(r"column '([^']+)'", r["table"])
        assert match, r
        upstream = tables[r["source"]][r["model_hf_id"]][match.group(1)]
        assert r["accuracy"] == upstream.strip(), (r, upstream)
        checked += 1
    assert checked == EXPECTED_ROWS[next(iter(OBS_SOURCES))] + EXPECTED_ROWS[list(OBS_SOURCES)[1]]


def test_obsscaling_rows_only_for_catalog_models(rows: list[dict[str, str]]) -> None:
    catalog = json.loads((REPO_ROOT / "storage" / "catalogs" / "models.json").read_text())
    models = next(iter(catalog.values())) if isinstance(catalog, dict) else catalog
    hf_ids = {m["hf_id"] for m in models}
    for r in rows:
        if r["source"] in OBS_SOURCES:
            assert r["model_hf_id"] in hf_ids, r


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # COSMOS App. J: the low-band pick, QLoRA at data portion 0.8 x 4 iterations, actual accuracy 0.944
        (dict(source="import:COSMOS (Wang et al. 2025)", method="qlora", data_fraction="0.8", epochs="4"), 0.944),
        # COSMOS App. J: BM25 ICL at 8 shots, actual accuracy 0.620
        (dict(source="import:COSMOS (Wang et al. 2025)", method="rag_icl", shots="8"), 0.620),
        # DoRA Table 1: LLaMA3-8B, DoRA rank 32, HellaSwag 95.5
        (
            dict(
                source="import:DoRA (Liu et al. 2024)", model="llama-3-8b", method="dora", cfg_rank=32, task="hellaswag"
            ),
            0.955,
        ),
        # DoRA Table 15: LLaMA-7B, DoRA rank 64, HellaSwag 40.7 (the repo README prints 85.9; the paper is used)
        (
            dict(
                source="import:DoRA (Liu et al. 2024)", model="llama-7b", method="dora", cfg_rank=64, task="hellaswag"
            ),
            0.407,
        ),
        # DoRA Table 15: LLaMA-7B, LoRA rank 4, BoolQ 2.3
        (
            dict(source="import:DoRA (Liu et al. 2024)", model="llama-7b", method="lora", cfg_rank=4, task="boolq"),
            0.023,
        ),
        # LLM-Adapters README math table: LLaMA-13B-LoRA, GSM8K 47.5
        (dict(source="import:LLM-Adapters (Hu et al. 2023)", model="llama-13b", method="lora", task="gsm8k"), 0.475),
        # LLM-Adapters README commonsense table: LLaMA-7B-Prefix, HellaSwag 42.1
        (
            dict(
                source="import:LLM-Adapters (Hu et al. 2023)",
                model="llama-7b",
                method="prefix_tuning",
                task="hellaswag",
            ),
            0.421,
        ),
        # QLoRA Table 4: NFloat4 + DQ, LLaMA 7B on Alpaca, MMLU 39.0
        (
            dict(
                source="import:QLoRA (Dettmers et al. 2023)",
                model="llama-7b",
                method="qlora",
                cfg_quant_type="nf4",
                table_contains="Table 4 (NFloat4 + DQ; LLaMA 7B; finetuned on Alpaca)",
            ),
            0.390,
        ),
        # QLoRA Table 5: LLaMA 65B without tuning, MMLU 5-shot 63.4
        (dict(source="import:QLoRA (Dettmers et al. 2023)", model="llama-65b", method="icl"), 0.634),
        # LoRA README: RoBERTa-base LoRA on RTE 86.6
        (dict(source="import:LoRA (Hu et al. 2021)", model="roberta-base", method="lora", task="rte"), 0.866),
        # ObsScaling base_llm_benchmark_eval.csv: Llama-2-7b MMLU
        (
            dict(source="import:ObsScaling base_llm_benchmark_eval.csv@4d6e1e43", model="llama-2-7b", task="mmlu"),
            0.4379609636092418,
        ),
    ],
)
def test_known_answers(rows: list[dict[str, str]], query: dict[str, object], expected: float) -> None:
    found = _find(rows, **query)
    assert len(found) == 1, (query, found)
    assert float(found[0]["accuracy"]) == pytest.approx(expected, abs=1e-12)


def test_llm_adapters_rows_agree_with_dora_table1_baselines(rows: list[dict[str, str]]) -> None:
    """DoRA Table 1 reprints the LLaMA-7B/13B LoRA baselines of Hu et al.: the values must agree."""
    dora_table1_lora_7b = [68.9, 80.7, 77.4, 78.1, 78.8, 77.8, 61.3, 74.8]
    tasks = ["boolq", "piqa", "siqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa"]
    for task, value in zip(tasks, dora_table1_lora_7b, strict=True):
        (row,) = _find(rows, source="import:LLM-Adapters (Hu et al. 2023)", model="llama-7b", method="lora", task=task)
        assert float(row["accuracy"]) == pytest.approx(value / 100, abs=1e-12)
