"""Migrations from empty to head, and back, on SQLite and PostgreSQL."""

from __future__ import annotations

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
