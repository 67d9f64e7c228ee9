"""Fine-tune checkpoints under ``<data_dir>/checkpoints/<run id>.pt``: what a re-queued run resumes from.

A checkpoint holds what the loop needs to go on as if never stopped: the trainable tensors (an adapter, a
head, or every weight of a full fine-tune, so small for the tiny models runs verify on), the optimizer's
state, the step, the data order still to draw and every RNG state. It is written to a temporary file and
renamed, so a worker killed mid-write leaves the previous one whole; it is loaded with
``weights_only=True`` (tensors and plain values only). :func:`prune_checkpoints` removes those of runs
that ended, whoever ended them (the API cancels stranded runs without reaching a worker's disk).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from storage.db import session_scope
from storage.repositories.runs import unfinished_run_ids
from storage.settings import Settings

__all__ = ["checkpoint_path", "delete_checkpoint", "load_checkpoint", "prune_checkpoints", "save_checkpoint"]

logger = logging.getLogger("tunecast.workers")

SUFFIX = ".pt"


def checkpoint_path(settings: Settings, run_id: str) -> Path:
    return settings.data_dir / "checkpoints" / f"{run_id}{SUFFIX}"


def save_checkpoint(path: Path, state: dict[str, Any]) -> int:
    """Write ``state`` atomically (temporary file, then rename); returns its size in bytes."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    torch.save(state, partial)
    os.replace(partial, path)
    return path.stat().st_size


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it cannot be read (then the run starts over)."""
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any unreadable checkpoint only costs the steps it held
        logger.exception("checkpoint %s cannot be read; the run starts over", path)
        return None
    return state if isinstance(state, dict) else None


def delete_checkpoint(settings: Settings, run_id: str) -> None:
    checkpoint_path(settings, run_id).unlink(missing_ok=True)


def prune_checkpoints(settings: Settings) -> int:
    """Delete the checkpoints (and half-written ones) of runs that ended or no longer exist; returns how
    many runs' files went."""
    found: dict[str, list[Path]] = {}
    for path in (settings.data_dir / "checkpoints").glob(f"*{SUFFIX}*"):
        found.setdefault(path.name.lstrip(".").split(SUFFIX)[0], []).append(path)
    if not found:
        return 0
    with session_scope(settings.database_url) as session:
        alive = unfinished_run_ids(session=session, run_ids=found)
    ended = set(found) - alive
    for run_id in ended:
        for path in found[run_id]:
            path.unlink(missing_ok=True)
    return len(ended)
