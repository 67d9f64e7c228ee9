"""Builders for test inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from storage.settings import Settings

if TYPE_CHECKING:  # imported where used: building settings needs none of the predictors
    from sqlalchemy.orm import Session

    from predictors.accuracy.features import Observation

__all__ = [
    "ISSUE_12_METHODS",
    "ISSUE_12_MODELS",
    "embedded_settings",
    "issue_12_grid",
    "llama_config",
    "tiny_llama_config",
    "unrelated_task",
    "verify_a_prediction",
]

ISSUE_12_MODELS = ("qwen2.5-0.5b", "mistral-7b-v0.1", "llama-3.1-8b")
ISSUE_12_METHODS: tuple[dict[str, Any], ...] = (
    {"name": "zero_shot"},
    {"name": "icl", "shots": 8},
    {"name": "lora", "rank": 16},
    {"name": "qlora", "rank": 16},
    {"name": "dora", "rank": 16},
    {"name": "ia3"},
    {"name": "full"},
)


def llama_config(**overrides: Any) -> dict[str, Any]:
    """Llama-2-7B's published config.json fields (meta-llama/Llama-2-7b-hf)."""
    config: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
    }
    config.update(overrides)
    return config


def tiny_llama_config(**overrides: Any) -> dict[str, Any]:
    tiny: dict[str, Any] = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 256,
        "max_position_embeddings": 128,
    }
    return llama_config(**{**tiny, **overrides})


def embedded_settings(root: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Test settings on the embedded default under ``root``: data in ``root/data``, the SQLite database (or
    ``database_url``) and kombu's SQLite broker beside it."""
    return Settings(
        environment="test",
        data_dir=root / "data",
        database_url=database_url or f"sqlite:///{(root / 'tunecast.db').as_posix()}",
        broker_url=f"sqla+sqlite:///{(root / 'broker.db').as_posix()}",
        **overrides,
    )


def issue_12_grid(
    models: Iterable[str] = ISSUE_12_MODELS, methods: Sequence[Mapping[str, Any]] = ISSUE_12_METHODS
) -> list[Observation]:
    """Issue #12's example: a new 4-class task with 5,000 training examples, each model with each method."""
    from predictors.accuracy.features import make_observation

    return [
        make_observation(
            model_id=model,
            method=method,
            task="support-intent",
            task_kind="classification",
            n_choices=4,
            training={"epochs": 2},
            task_train_examples=5000,
        )
        for model in models
        for method in methods
    ]


def unrelated_task(
    seed: int, *, methods: Sequence[Mapping[str, Any]] = ISSUE_12_METHODS, n: int = 50, source: str = "import:test"
) -> list[Observation]:
    """``n`` measurements of another task at random accuracies (what any other task may show), on random
    catalog models and ``methods``: evidence that should not move issue #12's grid."""
    from predictors.accuracy.features import make_observation
    from storage.catalogs import load_models_catalog

    rng = np.random.default_rng(seed)
    models = sorted({entry["id"] for entry in load_models_catalog()})
    return [
        make_observation(
            model_id=models[int(rng.integers(len(models)))],
            method=methods[int(rng.integers(len(methods)))],
            task="another-task",
            task_kind="classification",
            n_choices=3,
            training={"epochs": 1, "train_examples": int(rng.choice([200, 1000, 4000]))},
            accuracy=float(rng.uniform(0.35, 0.95)),
            source=source,
        )
        for _ in range(n)
    ]


def verify_a_prediction(session: Session, plan_id: str, *, task: str, accuracy: float) -> tuple[str, str]:
    """A finished fine-tune that verified one of the plan's stored predictions, its measurement recorded as a
    worker records it: (prediction id, run id)."""
    from sqlalchemy import select

    from storage.models import PredictionRow
    from storage.repositories import runs as runs_repo

    prediction = session.scalars(select(PredictionRow).where(PredictionRow.plan_id == plan_id)).first()
    assert prediction is not None, f"plan {plan_id} stored no prediction"
    candidate = prediction.candidate
    run, _ = runs_repo.create_run(
        session=session,
        values={"kind": "finetune", "candidate": candidate, "plan_id": plan_id, "prediction_id": prediction.id},
        idempotency_key=None,
    )
    model = candidate["model"]
    runs_repo.finish_run(
        session=session,
        run_id=run.id,
        status="succeeded",
        result={"accuracy": accuracy},
        measurement={
            "task": task,
            "model_id": model if isinstance(model, str) else model["id"],
            "method_name": candidate["method"]["name"],
            "candidate": candidate,
            "accuracy": accuracy,
        },
    )
    return prediction.id, run.id
