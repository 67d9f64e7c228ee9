"""Builders for test inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.settings import Settings

__all__ = ["embedded_settings", "llama_config", "tiny_llama_config"]


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
