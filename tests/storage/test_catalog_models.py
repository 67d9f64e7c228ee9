"""Checks on the shipped base-model catalog ``storage/catalogs/models.json``.

The catalog is data, so these tests guard it two ways: its structure (ids, required fields, the
families the product promises) and its consistency with what the predictors compute from it (the
parameter count that ``predictors.architecture`` derives from each published ``config.json`` must
match the count the publisher reports within 1 %), plus the benchmark scores against the
ObsScaling CSV they were copied from.
"""

from __future__ import annotations

import csv
import json
import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OBSSCALING_CSV = REPO_ROOT.parent / "shared" / "data" / "obsscaling" / "base_llm_benchmark_eval.csv"
BENCHMARK_KEYS = (
    "MMLU",
    "ARC-C",
    "HellaSwag",
    "Winograd",
    "TruthfulQA",
    "GSM8K",
    "XWinograd",
    "HumanEval",
)
REQUIRED_FIELDS = (
    "id",
    "hf_id",
    "family",
    "architecture",
    "published_params",
    "training_tokens",
    "release_date",
    "license",
    "benchmarks",
    "sources",
)
REQUIRED_SOURCES = (
    "architecture",
    "published_params",
    "training_tokens",
    "release_date",
    "license",
    "benchmarks",
)
# Every family (and HF id) the catalog has promised to ship.
REQUIRED_FAMILIES = (
    "GPT-2",
    "Pythia",
    "Llama-2",
    "Llama-3",
    "Mistral",
    "Mixtral",
    "Qwen2.5",
    "Gemma",
    "Gemma-2",
    "Phi",
    "Phi-3",
    "SmolLM2",
    "OLMo",
    "Falcon",
)
REQUIRED_HF_IDS = (
    "openai-community/gpt2",
    "openai-community/gpt2-medium",
    "openai-community/gpt2-large",
    "openai-community/gpt2-xl",
    "EleutherAI/pythia-70m-deduped",
    "EleutherAI/pythia-160m-deduped",
    "EleutherAI/pythia-410m-deduped",
    "EleutherAI/pythia-1b-deduped",
    "EleutherAI/pythia-1.4b-deduped",
    "EleutherAI/pythia-2.8b-deduped",
    "EleutherAI/pythia-6.9b-deduped",
    "EleutherAI/pythia-12b-deduped",
    "meta-llama/Llama-2-7b-hf",
    "meta-llama/Llama-2-13b-hf",
    "meta-llama/Llama-2-70b-hf",
    "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Meta-Llama-3-70B",
    "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B",
    "mistralai/Mistral-7B-v0.1",
    "mistralai/Mixtral-8x7B-v0.1",
    "Qwen/Qwen2.5-0.5B",
    "Qwen/Qwen2.5-1.5B",
    "Qwen/Qwen2.5-3B",
    "Qwen/Qwen2.5-7B",
    "Qwen/Qwen2.5-14B",
    "Qwen/Qwen2.5-32B",
    "Qwen/Qwen2.5-72B",
    "google/gemma-2b",
    "google/gemma-7b",
    "google/gemma-2-2b",
    "google/gemma-2-9b",
    "google/gemma-2-27b",
    "microsoft/phi-2",
    "microsoft/Phi-3-mini-4k-instruct",
    "HuggingFaceTB/SmolLM2-135M",
    "HuggingFaceTB/SmolLM2-360M",
    "HuggingFaceTB/SmolLM2-1.7B",
    "allenai/OLMo-7B-hf",
    "tiiuae/falcon-7b",
)
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BENCHMARK_ROW = re.compile(r"\(row Model=([^)\s]+)\)")
PARAM_TOLERANCE = 0.01


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    text = resources.files("storage.catalogs").joinpath("models.json").read_text(encoding="utf-8")
    return json.loads(text)


def _models() -> list[dict[str, Any]]:
    return _catalog()["models"]


def _ids() -> list[str]:
    return [model["id"] for model in _models()]


def _by_id(model_id: str) -> dict[str, Any]:
    return next(model for model in _models() if model["id"] == model_id)


def _benchmark_row_key(model: dict[str, Any]) -> str | None:
    """The ObsScaling ``Model`` value the entry's scores were copied from (named in its sources)."""
    match = BENCHMARK_ROW.search(model["sources"]["benchmarks"])
    return match.group(1) if match else None


# ---------------------------------------------------------------- structure


def test_catalog_is_an_object_with_a_models_list() -> None:
    catalog = _catalog()
    assert isinstance(catalog, dict)
    assert isinstance(catalog.get("models"), list)


def test_catalog_has_at_least_40_models() -> None:
    assert len(_models()) >= 40


def test_ids_and_hf_ids_are_unique() -> None:
    ids = _ids()
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    hf_ids = [model["hf_id"] for model in _models()]
    assert len(hf_ids) == len(set(hf_ids)), sorted(i for i in hf_ids if hf_ids.count(i) > 1)


@pytest.mark.parametrize("model_id", _ids())
def test_entry_has_required_fields(model_id: str) -> None:
    model = _by_id(model_id)
    missing = [field for field in REQUIRED_FIELDS if field not in model]
    assert not missing, f"{model_id}: missing {missing}"
    assert ID_PATTERN.match(model["id"]), f"id {model['id']!r} is not a lower-case slug"
    assert "/" in model["hf_id"]
    assert isinstance(model["family"], str) and model["family"]

    arch = model["architecture"]
    assert isinstance(arch, dict) and isinstance(arch.get("model_type"), str)
    context_keys = ("max_position_embeddings", "n_positions")
    assert any(isinstance(arch.get(key), int) and arch[key] > 0 for key in context_keys), (
        f"{model_id}: architecture needs max_position_embeddings (or n_positions for gpt2)"
    )

    published = model["published_params"]
    assert isinstance(published, int) and not isinstance(published, bool) and published > 0
    tokens = model["training_tokens"]
    assert tokens is None or (isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0)
    assert DATE_PATTERN.match(model["release_date"]), model["release_date"]
    assert isinstance(model["license"], str) and model["license"]

    assert isinstance(model["benchmarks"], dict)
    unknown = set(model["benchmarks"]) - set(BENCHMARK_KEYS)
    assert not unknown, f"{model_id}: unknown benchmark keys {sorted(unknown)}"
    for name, value in model["benchmarks"].items():
        assert isinstance(value, float) and 0.0 <= value <= 1.0 and math.isfinite(value), (model_id, name, value)

    sources = model["sources"]
    missing_sources = [key for key in REQUIRED_SOURCES if not sources.get(key)]
    assert not missing_sources, f"{model_id}: missing sources {missing_sources}"
    assert sources["architecture"] == f"https://huggingface.co/{model['hf_id']}/blob/main/config.json"
    if model["benchmarks"]:
        assert _benchmark_row_key(model), f"{model_id}: benchmarks present but sources name no ObsScaling row"


def test_required_families_are_present() -> None:
    families = {model["family"] for model in _models()}
    missing = [family for family in REQUIRED_FAMILIES if family not in families]
    assert not missing, f"missing families: {missing}"


def test_required_models_are_present() -> None:
    hf_ids = {model["hf_id"] for model in _models()}
    missing = [hf_id for hf_id in REQUIRED_HF_IDS if hf_id not in hf_ids]
    assert not missing, f"missing models: {missing}"


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("model_id", _ids())
def test_counted_parameters_match_published(model_id: str) -> None:
    architecture = pytest.importorskip("predictors.architecture")
    model = _by_id(model_id)
    arch = architecture.architecture_from_hf_config(model["architecture"])
    counted = architecture.count_parameters(arch).total_params
    published = model["published_params"]
    rel = abs(counted - published) / published
    assert rel <= PARAM_TOLERANCE, (
        f"{model_id} ({model['architecture']['model_type']}): counted {counted:,} vs published {published:,} "
        f"({rel:.3%} off)"
    )


@pytest.mark.parametrize("model_id", _ids())
def test_active_parameters_do_not_exceed_total(model_id: str) -> None:
    architecture = pytest.importorskip("predictors.architecture")
    count = architecture.count_parameters(architecture.architecture_from_hf_config(_by_id(model_id)["architecture"]))
    assert 0 < count.active_params <= count.total_params
    if "num_local_experts" not in _by_id(model_id)["architecture"]:
        assert count.active_params == count.total_params


# ---------------------------------------------------------------- benchmark scores


@lru_cache(maxsize=1)
def _obsscaling_rows() -> dict[str, dict[str, str]]:
    with OBSSCALING_CSV.open(newline="", encoding="utf-8") as handle:
        return {row["Model"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("model_id", _ids())
def test_benchmark_scores_equal_the_obsscaling_csv(model_id: str) -> None:
    if not OBSSCALING_CSV.is_file():
        pytest.skip(f"shared ObsScaling data not available at {OBSSCALING_CSV} (it lives outside the repo)")
    model = _by_id(model_id)
    row_key = _benchmark_row_key(model)
    if row_key is None:
        assert model["benchmarks"] == {}, f"{model_id}: scores without an ObsScaling row in sources"
        assert model["hf_id"] not in _obsscaling_rows(), f"{model_id}: the CSV has this model; copy its scores"
        return
    rows = _obsscaling_rows()
    assert row_key in rows, f"{model_id}: ObsScaling has no row Model={row_key}"
    row = rows[row_key]
    expected = {key: float(row[key]) for key in BENCHMARK_KEYS if row[key].strip() != ""}
    assert model["benchmarks"] == expected
