"""Engine and session factory, one per database URL."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["commit_counter", "forget_inherited_engines", "get_engine", "get_sessionmaker", "session_scope"]


_engines_made: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine handed out, for forked children


@lru_cache(maxsize=16)
def get_engine(database_url: str) -> Engine:
    """A pooled engine; SQLite gets WAL, foreign keys and a busy timeout so the API and the embedded
    worker can share the file."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection per thread-pool thread (anyio's 40): a sync route holds one while it runs,
        # and past pool_size every returned connection was closed and the next one opened again (pragmas
        # included), ~0.3 ms of a single-candidate POST /v1/cost under 20 clients. An idle SQLite
        # connection is a file handle.
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40, max_overflow=10
        )
        _engines_made.add(engine)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL (SQLite's advice for WAL): a commit appends to the WAL without an
            # fsync (~6 ms each here, under the one write lock), the WAL is synced at each checkpoint. Never
            # corrupts; a power loss or OS crash (not a process crash) may drop the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    _engines_made.add(engine)
    return engine


@lru_cache(maxsize=16)
def get_sessionmaker(database_url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(database_url), expire_on_commit=False)


@contextmanager
def session_scope(database_url: str) -> Iterator[Session]:
    """A session closed on exit; repositories own their commits."""
    session = get_sessionmaker(database_url)()
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def forget_inherited_engines() -> None:
    """In a forked child: drop the parent's pooled connections without closing them (they are the
    parent's sockets), so the child opens its own (SQLAlchemy's "using connection pools with
    multiprocessing" recipe)."""
    for engine in list(_engines_made):
        engine.dispose(close=False)
    _engines_made.clear()
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()


class _SqliteCommitCounter:
    """``PRAGMA data_version`` of a connection of its own that never writes: it changes whenever any other
    connection, of any process, commits to the file (https://sqlite.org/pragma.html#pragma_data_version),
    and reading it is a few microseconds, where a query through the ORM is a few hundred."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pid = -1
        self._connection: sqlite3.Connection | None = None

    def __call__(self) -> int:
        with self._lock:
            if self._connection is None or self._pid != os.getpid():  # a forked child opens its own
                self._connection = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
                self._pid = os.getpid()
            return int(self._connection.execute("PRAGMA data_version").fetchone()[0])


@lru_cache(maxsize=16)
def commit_counter(engine: Engine) -> _SqliteCommitCounter | None:
    """A counter that changes whenever anything is committed to ``engine``'s database, for a file-backed
    SQLite database; None for another (a caller then asks the database what it needs to know)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or engine.url.query.get("mode"):
        return None
    return _SqliteCommitCounter(database)
