"""storage.db: how the embedded SQLite engine is set up for the API and the embedded worker sharing it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text

from storage.db import get_engine


def test_sqlite_connections_use_wal_without_an_fsync_per_commit(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_sqlite_pool_keeps_a_connection_per_thread_pool_thread(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    for _ in range(2):  # 20 requests at once, each in its own thread, twice
        connections = [engine.connect() for _ in range(20)]
        for connection in connections:
            connection.close()
    assert len(opened) == 20  # the second round reused them: none closed and opened again
    engine.dispose()
