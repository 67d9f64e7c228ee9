"""Catalog services: derive model counts from architectures, seed the shipped catalogs, import configs.

This is where the predictors (which derive) meet storage (which keeps); both stay unaware of each
other and of HTTP.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from predictors.architecture import Architecture, architecture_from_hf_config, count_parameters
from predictors.errors import InvalidInputError
from predictors.methods import METHODS
from storage import migrate
from storage.catalogs import load_hardware_catalog, load_models_catalog
from storage.db import session_scope
from storage.models import BaseModelRow
from storage.repositories import catalog as catalog_repo
from storage.settings import Settings

__all__ = [
    "derived_architecture",
    "import_model",
    "method_rows",
    "model_values",
    "prepare_database",
    "seed_catalogs",
]

logger = logging.getLogger("tunecast.catalog")


def derived_architecture(arch: Architecture) -> dict[str, Any]:
    """The normalised fields every consumer can rely on, whatever names the source config used."""
    return {
        "model_type": arch.model_type,
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.num_hidden_layers,
        "num_attention_heads": arch.num_attention_heads,
        "num_key_value_heads": arch.num_key_value_heads,
        "head_dim": arch.head_dim,
        "vocab_size": arch.vocab_size,
        "tie_word_embeddings": arch.tie_word_embeddings,
        "max_position_embeddings": arch.max_position_embeddings,
        "num_local_experts": arch.num_experts if arch.is_moe else None,
        "num_experts_per_tok": arch.num_experts_per_token if arch.is_moe else None,
        "norm": arch.norm,
        "hidden_act": arch.hidden_act,
    }


def model_values(entry: dict[str, Any], *, field: str = "architecture") -> dict[str, Any]:
    """Row values for one model: its config as given plus counts derived by ``count_parameters``."""
    try:
        arch = architecture_from_hf_config(entry["architecture"])
    except InvalidInputError as exc:
        raise InvalidInputError(exc.field.replace("architecture", field, 1), exc.message) from None
    counts = count_parameters(arch)
    release = entry.get("release_date")
    return {
        "id": entry["id"],
        "hf_id": entry.get("hf_id"),
        "family": entry.get("family") or arch.model_type,
        "model_type": arch.model_type,
        "architecture": dict(entry["architecture"]),
        "total_params": counts.total_params,
        "active_params": counts.active_params,
        "published_params": entry.get("published_params"),
        "training_tokens": entry.get("training_tokens"),
        "release_date": date.fromisoformat(release) if isinstance(release, str) else release,
        "license": entry.get("license"),
        "benchmarks": {k: float(v) for k, v in (entry.get("benchmarks") or {}).items() if v is not None},
        "sources": dict(entry.get("sources") or {}),
    }


def method_rows() -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "kind": spec.kind,
            "summary": spec.summary,
            "reference": spec.reference,
            "parent": spec.parent,
            "parameter_schema": spec.json_schema(),
        }
        for spec in METHODS.values()
    ]


def _hardware_values(entry: dict[str, Any]) -> dict[str, Any]:
    """A shipped catalog entry as a hardware row: its spec fields and where the figures come from."""
    return {key: entry.get(key) for key in (*catalog_repo.HARDWARE_FIELDS, "source")}


def seed_catalogs(*, session: Session) -> dict[str, int]:
    """Insert or refresh the shipped catalogs; running it again changes nothing (idempotent)."""
    changed = {
        "models": catalog_repo.upsert_catalog_models(
            session=session, entries=[model_values(entry) for entry in load_models_catalog()]
        ),
        "hardware": catalog_repo.upsert_catalog_hardware(
            session=session, entries=[_hardware_values(entry) for entry in load_hardware_catalog()]
        ),
        "methods": catalog_repo.upsert_methods(session=session, entries=method_rows()),
    }
    return changed


def prepare_database(settings: Settings) -> dict[str, int]:
    """Migrate to head and seed the catalogs: what ``tunecast serve`` and ``db upgrade`` run at start."""
    if settings.database_is_sqlite:
        settings.ensure_data_dir()
    migrate.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        changed = seed_catalogs(session=session)
    logger.info("database at head; catalog rows changed: %s", changed)
    return changed


def import_model(*, session: Session, model_id: str, config: dict[str, Any], metadata: dict[str, Any]) -> BaseModelRow:
    """Register a model from its Hugging Face ``config.json`` (counts derived exactly as the catalog's)."""
    values = model_values({"id": model_id, "architecture": config, **metadata}, field="config")
    values["sources"] = {"architecture": "POST /v1/models/import"}
    values["origin"] = "import"
    return catalog_repo.create_model(session=session, values=values)
