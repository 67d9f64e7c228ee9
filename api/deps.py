"""Dependencies as typed aliases, so route signatures read as prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.embedded_worker import EmbeddedWorker
from storage.db import get_sessionmaker
from storage.settings import Settings

__all__ = ["EmbeddedWorkerDep", "SessionDep", "SettingsDep", "get_session", "settings_from_app"]


def settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_from_app)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    session = get_sessionmaker(settings.database_url)()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def embedded_worker_from_app(request: Request) -> EmbeddedWorker | None:
    worker: EmbeddedWorker | None = getattr(request.app.state, "embedded_worker", None)
    return worker


EmbeddedWorkerDep = Annotated[EmbeddedWorker | None, Depends(embedded_worker_from_app)]
