"""Migrations from empty to head, and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import inspect

from storage import migrate
from storage.db import get_engine
from storage.models import Base

EXPECTED_TABLES = {"models", "methods", "hardware", "tasks", "datasets", "plans", "predictions", "runs", "measurements"}


def test_upgrade_from_empty_to_head_creates_every_table(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert EXPECTED_TABLES <= tables


def test_head_schema_matches_the_orm_models(database_url: str) -> None:
    migrate.upgrade(database_url)
    inspector = inspect(get_engine(database_url))
    for table in Base.metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == {column.name for column in table.columns}, table.name


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    assert migrate.current_revision(database_url) is None
    assert not (EXPECTED_TABLES & set(inspect(get_engine(database_url)).get_table_names()))
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_an_edited_price_before_0006_stays_edited_after_it(database_url: str) -> None:
    from sqlalchemy import text

    from api.catalog import prepare_database
    from storage.settings import Settings

    migrate.upgrade(database_url, "0005")
    engine = get_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO hardware (id, name, vendor, memory_bytes, peak_fp32_tflops, hbm_gbps, usd_per_hour,"
                " usd_per_hour_edited, source, created_at, updated_at) VALUES ('H200', 'H200', 'nvidia', 1,"
                " 1.0, 1.0, 9.5, :edited, 'test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"edited": True},
        )
    migrate.upgrade(database_url)
    prepare_database(Settings(environment="test", database_url=database_url))  # re-seeds the catalog
    with engine.connect() as connection:
        price, edited = connection.execute(
            text("SELECT usd_per_hour, edited_fields FROM hardware WHERE id = 'H200'")
        ).one()
    assert price == 9.5
    assert (json.loads(edited) if isinstance(edited, str) else edited) == ["usd_per_hour"]
    migrate.downgrade(database_url, "0005")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT usd_per_hour_edited FROM hardware WHERE id = 'H200'")).scalar_one()


def test_a_prediction_keeps_a_predictor_text_longer_than_128_characters(database_url: str) -> None:
    """A measured forecast names its runs' sources (~230 characters); before 0010 PostgreSQL refused it."""
    from storage.db import session_scope
    from storage.models import PredictionRow

    migrate.upgrade(database_url)
    predictor = "measurement (3 runs: " + ", ".join(f"import:paper table {i}" for i in range(12)) + "), conformal"
    assert len(predictor) > 200
    with session_scope(database_url) as session:
        session.add(PredictionRow(candidate_key="k" * 64, candidate={}, tier="measured", predictor=predictor, cost={}))
        session.commit()
    with session_scope(database_url) as session:
        stored = session.query(PredictionRow).one()
        assert stored.predictor == predictor
