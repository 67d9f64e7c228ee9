"""The catalogs shipped with tunecast as data files (models, hardware), read with importlib.resources."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load_hardware_catalog", "load_models_catalog"]


def _load(name: str, key: str) -> list[dict[str, Any]]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = json.loads(text)[key]
    return entries


def load_models_catalog() -> list[dict[str, Any]]:
    """Entries of ``models.json``: id, hf_id, family, architecture (HF config fields), published_params, …"""
    return _load("models.json", "models")


def load_hardware_catalog() -> list[dict[str, Any]]:
    """Entries of ``hardware.json``: memory_bytes, peak TFLOP/s by precision, hbm_gbps, usd_per_hour, source."""
    return _load("hardware.json", "hardware")
