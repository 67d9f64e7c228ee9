"""Shared fixtures: a fresh database per test on SQLite and on the running PostgreSQL, and API clients.

PostgreSQL tests create a throw-away database per test on ``TUNECAST_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and drop it afterwards; they skip, saying why,
only when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from storage.db import get_engine
from storage.settings import Settings, get_settings
from tests.factories import embedded_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_ADMIN_URL = os.environ.get("TUNECAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_postgres_problem: str | None = None
_postgres_checked = False


def postgres_unavailable_reason() -> str | None:
    """None when the PostgreSQL server answers, else why not (checked once per session)."""
    global _postgres_checked, _postgres_problem
    if not _postgres_checked:
        _postgres_checked = True
        try:
            engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:
            _postgres_problem = f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {type(exc).__name__}: {exc}"
    return _postgres_problem


def _fresh_postgres_database() -> Iterator[str]:
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    name = f"tunecast_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        get_engine.cache_clear()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Workers load weights only from their model roots: the tiny models tests build live under pytest's
    base temporary directory, so that is the root (``TUNECAST_MODEL_DIRS``) of every test's settings and
    worker process, unless a test sets its own."""
    root = tmp_path_factory.getbasetemp()
    previous = os.environ.get("TUNECAST_MODEL_DIRS")
    os.environ["TUNECAST_MODEL_DIRS"] = str(root)
    get_settings.cache_clear()
    try:
        yield root
    finally:
        if previous is None:
            os.environ.pop("TUNECAST_MODEL_DIRS", None)
        else:
            os.environ["TUNECAST_MODEL_DIRS"] = previous
        get_settings.cache_clear()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, new for each test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'tunecast.db').as_posix()}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return embedded_settings(tmp_path, database_url, max_request_bytes=256 * 1024)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on a fresh, migrated and seeded database (both backends)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for read-mostly and fuzz tests that need no per-test isolation."""
    root = tmp_path_factory.mktemp("api")
    module_settings = Settings(
        environment="test",
        data_dir=root,
        database_url=f"sqlite:///{(root / 'tunecast.db').as_posix()}",
        broker_url=f"sqla+sqlite:///{(root / 'broker.db').as_posix()}",
        max_request_bytes=256 * 1024,
    )
    with TestClient(create_app(module_settings), raise_server_exceptions=False) as test_client:
        yield test_client
