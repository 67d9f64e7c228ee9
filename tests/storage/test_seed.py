"""Seeding the shipped catalogs: idempotent, exact counts, user edits kept."""

from __future__ import annotations

import pytest

from api.catalog import import_model, prepare_database, seed_catalogs
from predictors.architecture import architecture_from_hf_config, count_parameters
from predictors.methods import METHODS
from storage.catalogs import load_hardware_catalog, load_models_catalog
from storage.db import session_scope
from storage.errors import ConflictError
from storage.repositories import catalog as catalog_repo
from storage.settings import Settings
from tests.factories import tiny_llama_config


def test_prepare_database_seeds_every_catalog(settings: Settings) -> None:
    changed = prepare_database(settings)
    assert changed["models"] == len(load_models_catalog())
    assert changed["hardware"] == len(load_hardware_catalog())
    assert changed["methods"] == len(METHODS)
    with session_scope(settings.database_url) as session:
        assert catalog_repo.list_models(session=session, limit=1000, offset=0).total >= 40
        assert {row.name for row in catalog_repo.list_methods(session=session)} == set(METHODS)


def test_seeding_again_changes_nothing(settings: Settings) -> None:
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        assert seed_catalogs(session=session) == {"models": 0, "hardware": 0, "methods": 0}


def test_seeded_counts_are_derived_from_the_architecture(settings: Settings) -> None:
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        row = catalog_repo.get_model(session=session, model_id="mixtral-8x7b-v0.1")
        counts = count_parameters(architecture_from_hf_config(row.architecture))
        assert (row.total_params, row.active_params) == (counts.total_params, counts.active_params)
        assert row.active_params < row.total_params / 3


def test_edited_price_and_specs_survive_reseeding(settings: Settings) -> None:
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        catalog_repo.update_hardware(session=session, hardware_id="H200", changes={"usd_per_hour": 9.5})
        catalog_repo.update_hardware(
            session=session, hardware_id="H200", changes={"memory_bytes": 2**37, "hbm_gbps": 4000.0}
        )
        catalog_repo.update_hardware(session=session, hardware_id="L4", changes={"name": "my L4"})
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        row = catalog_repo.get_hardware(session=session, hardware_id="H200")
        assert (row.usd_per_hour, row.memory_bytes, row.hbm_gbps) == (9.5, 2**37, 4000.0)
        assert row.edited_fields == ["hbm_gbps", "memory_bytes", "usd_per_hour"]
        assert row.peak_fp32_tflops > 0 and "peak_fp32_tflops" not in row.edited_fields
        assert catalog_repo.get_hardware(session=session, hardware_id="L4").name == "my L4"


def test_imported_model_is_idempotent_and_conflicts_on_a_different_config(settings: Settings) -> None:
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        first = import_model(session=session, model_id="tiny", config=tiny_llama_config(), metadata={})
        again = import_model(session=session, model_id="tiny", config=tiny_llama_config(), metadata={})
        assert again.id == first.id and again.total_params == first.total_params
        with pytest.raises(ConflictError, match="already taken"):
            import_model(session=session, model_id="tiny", config=tiny_llama_config(num_hidden_layers=3), metadata={})
        with pytest.raises(ConflictError):
            import_model(session=session, model_id="llama-2-7b", config=tiny_llama_config(), metadata={})
