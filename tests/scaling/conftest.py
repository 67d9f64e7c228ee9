"""Fixtures for the scaling tests: synthetic cases per law and the reproduction harness."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def _load_harness() -> ModuleType:
    path = REPO_ROOT / "benchmarks" / "scaling_repro_data.py"
    spec = importlib.util.spec_from_file_location("scaling_repro_data", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def harness() -> ModuleType:
    """benchmarks/scaling_repro_data.py, loaded by path."""
    return _load_harness()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data, skipping the test when it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared paper data not found at {DATA_DIR} (needs ../shared/data)")
    return DATA_DIR
