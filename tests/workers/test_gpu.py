"""Fine-tunes on CUDA (skipped without a GPU): bf16 LoRA and full, and QLoRA where bitsandbytes is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from storage.migrate import upgrade
from tests.factories import embedded_settings
from tests.workers.conftest import classification_rows
from tests.workers.test_run_kinds import load, make_run
from workers.finetune import run_finetune
from workers.runtime import execute_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("method", [{"name": "full"}, {"name": "lora", "rank": 4}, {"name": "qlora", "rank": 4}])
def test_finetune_on_cuda_measures_cuda_memory(tmp_path: Path, tiny_model_dir: Path, method: dict[str, str]) -> None:
    settings = embedded_settings(tmp_path)
    upgrade(settings.database_url)
    if method["name"] == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("qlora needs bitsandbytes, which is not installed")
    run_id = make_run(settings, tiny_model_dir, classification_rows(), method=method)
    assert execute_run(None, run_id, "finetune", run_finetune, settings=settings) == "succeeded"
    run, measurements, _ = load(settings, run_id)
    assert run.result["device"] == "cuda" and run.result["gpu_hours"] > 0
    assert run.result["peak_memory_source"] == "torch.cuda.max_memory_allocated"
    assert run.result["peak_memory_bytes"] > 0 and len(measurements) == 1
