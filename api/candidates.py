"""How a candidate is named and keyed wherever it is shown or joined (plans, versions, the gate)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from predictors.methods import METHODS

__all__ = ["candidate_key", "candidate_label"]


def candidate_key(candidate: Mapping[str, Any]) -> str:
    """A stable identity for a candidate's canonical JSON (sha256), to join predictions, runs and versions."""
    canonical = json.dumps(candidate, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def candidate_label(candidate: Mapping[str, Any]) -> str:
    """``model / method (settings that differ from its defaults) on N× GPU``, as people read a candidate."""
    model = candidate["model"]
    model_id = model if isinstance(model, str) else model.get("id", "model")
    method = candidate["method"] if isinstance(candidate["method"], Mapping) else {"name": candidate["method"]}
    spec = METHODS.get(str(method.get("name")))
    defaults = spec.default_config().model_dump(mode="json") if spec is not None else {}
    params = ", ".join(f"{k}={v}" for k, v in method.items() if k != "name" and defaults.get(k, object()) != v)
    hardware = candidate.get("hardware") or {}
    where = f" on {hardware.get('count', 1)}x {hardware['gpu']}" if hardware.get("gpu") else ""
    return f"{model_id} / {method['name']}{f' ({params})' if params else ''}{where}"
