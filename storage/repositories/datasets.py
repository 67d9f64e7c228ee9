"""Datasets: uploaded JSONL stored once on disk under the data dir by content hash, with a recorded split.

The file is ``<data_dir>/datasets/<sha256>.jsonl`` (the uploaded bytes, unchanged), so the same content
uploaded twice is stored once. The train/test split is deterministic: examples are ranked by
``sha256(f"{seed}:{index}")`` and the first ``n_test`` of that order form the test split; the row records
the seed, the fraction and the test indices, so a worker (or a person) can rebuild both splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import DatasetRow, TaskRow

__all__ = [
    "LoadedDataset",
    "create_dataset",
    "dataset_path",
    "get_dataset",
    "latest_dataset_for_task",
    "load_dataset",
    "split_indices",
]

SPLIT_METHOD = "sha256-rank"


def dataset_path(data_dir: Path, content_sha256: str) -> Path:
    return data_dir / "datasets" / f"{content_sha256}.jsonl"


def split_indices(n_examples: int, *, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) indices, each sorted; at least one example on each side when ``n_examples >= 2``."""
    if n_examples < 2:
        raise ValueError(f"a split needs at least 2 examples, got {n_examples}")
    n_test = min(max(1, round(n_examples * test_fraction)), n_examples - 1)
    order = sorted(range(n_examples), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    test = sorted(order[:n_test])
    train = sorted(order[n_test:])
    return train, test


def _write_once(path: Path, content: bytes) -> None:
    """Write atomically (temp file + rename); content-addressed, so an existing file is already right."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def create_dataset(
    *,
    session: Session,
    data_dir: Path,
    content: bytes,
    kind: str,
    n_examples: int,
    task_id: str | None,
    test_fraction: float,
    seed: int,
    stats: dict[str, Any],
    chance_accuracy: float | None = None,
) -> tuple[DatasetRow, bool]:
    """Store validated JSONL content; returns ``(row, created)``.

    Idempotent: the same bytes for the same task, kind and split parameters return the stored row. With a
    task, its data statistics are updated in the same commit (and its chance accuracy when it has none).
    """
    digest = hashlib.sha256(content).hexdigest()
    existing = session.scalars(
        select(DatasetRow)
        .where(DatasetRow.content_sha256 == digest, DatasetRow.kind == kind)
        .where(DatasetRow.task_id.is_(None) if task_id is None else DatasetRow.task_id == task_id)
        .order_by(DatasetRow.created_at)
    ).all()
    for row in existing:
        if row.split.get("seed") == seed and row.split.get("test_fraction") == test_fraction:
            return row, False
    path = dataset_path(data_dir, digest)
    _write_once(path, content)
    train, test = split_indices(n_examples, test_fraction=test_fraction, seed=seed)
    row = DatasetRow(
        task_id=task_id,
        kind=kind,
        content_sha256=digest,
        path=str(path),
        n_train=len(train),
        n_test=len(test),
        split={"method": SPLIT_METHOD, "seed": seed, "test_fraction": test_fraction, "test_indices": test, **stats},
    )
    session.add(row)
    if task_id is not None:
        task = session.get(TaskRow, task_id)
        if task is None:
            raise NotFoundError("task", task_id, field="task", location="body")
        task.stats = {**task.stats, "n_examples": n_examples, "n_train": len(train), "n_test": len(test), **stats}
        if task.chance_accuracy is None and chance_accuracy is not None:
            task.chance_accuracy = chance_accuracy
    session.commit()
    return row, True


def get_dataset(*, session: Session, dataset_id: str, field: str = "dataset_id", location: str = "path") -> DatasetRow:
    row = session.get(DatasetRow, dataset_id)
    if row is None:
        raise NotFoundError("dataset", dataset_id, field=field, location=location)
    return row


def latest_dataset_for_task(*, session: Session, task_id: str) -> DatasetRow | None:
    return session.scalars(
        select(DatasetRow).where(DatasetRow.task_id == task_id).order_by(DatasetRow.created_at.desc()).limit(1)
    ).first()


@dataclass(frozen=True, slots=True)
class LoadedDataset:
    kind: str
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]


def load_dataset(row: DatasetRow) -> LoadedDataset:
    """Read the stored JSONL back and apply the recorded split (blank lines were skipped on upload too)."""
    examples = [json.loads(line) for line in Path(row.path).read_text(encoding="utf-8").splitlines() if line.strip()]
    test_set = set(row.split["test_indices"])
    train = [example for index, example in enumerate(examples) if index not in test_set]
    test = [example for index, example in enumerate(examples) if index in test_set]
    return LoadedDataset(kind=row.kind, train=train, test=test)
