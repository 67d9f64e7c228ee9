"""Database reachability for ``/readyz``."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from storage.db import get_engine

__all__ = ["database_status"]


def database_status(database_url: str) -> Literal["ok", "unavailable"]:
    try:
        with get_engine(database_url).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "unavailable"
    return "ok"
