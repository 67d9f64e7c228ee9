"""How a candidate is named and keyed wherever it is shown or joined (plans, versions, the gate)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from predictors.methods import METHODS

__all__ = ["candidate_key", "candidate_label", "hardware_label", "method_label", "model_label"]

HEADLINE_SETTINGS = (("rank", "r"), ("shots", "shots "), ("layers", "top "))
"""A method's main setting, always shown (as ``r16``, ``shots 8``, ``top 4``); any other parameter is shown
only when it differs from the method's default (``alpha 16``), so two candidates never share a label."""


def candidate_key(candidate: Mapping[str, Any]) -> str:
    """A stable identity for a candidate's canonical JSON (sha256), to join predictions, runs and versions."""
    canonical = json.dumps(candidate, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def model_label(candidate: Mapping[str, Any]) -> str:
    model = candidate.get("model")
    if isinstance(model, Mapping):
        return str(model.get("id", "inline model"))
    return "—" if model is None else str(model)


def _setting(value: Any) -> str:
    return (
        ",".join(map(str, value))
        if isinstance(value, list | tuple)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def method_label(candidate: Mapping[str, Any]) -> str:
    """``lora r16 alpha 16``: the method, its main setting and each other parameter unlike its default."""
    method = candidate.get("method")
    if not isinstance(method, Mapping):
        return "—" if method is None else str(method)
    spec = METHODS.get(str(method.get("name")))
    defaults = spec.default_config().model_dump(mode="json") if spec is not None else {}
    headline = dict(HEADLINE_SETTINGS)
    parts = [str(method.get("name", "—"))]
    parts += [f"{short}{_setting(method[key])}" for key, short in HEADLINE_SETTINGS if method.get(key) is not None]
    parts += [
        f"{key.replace('_', ' ')} {_setting(value)}"
        for key, value in method.items()
        if key != "name" and key not in headline and value is not None and defaults.get(key, object()) != value
    ]
    return " ".join(parts)


def hardware_label(candidate: Mapping[str, Any]) -> str:
    hardware = candidate.get("hardware")
    if not isinstance(hardware, Mapping):
        return "—"
    return f"{hardware.get('count', 1)}× {hardware.get('gpu', '?')}"


def candidate_label(candidate: Mapping[str, Any]) -> str:
    """``model · method label · N× GPU``, as people read a candidate (the web UI's rows say the same)."""
    return f"{model_label(candidate)} · {method_label(candidate)} · {hardware_label(candidate)}"
