"""Broker reachability for ``/readyz``."""

from __future__ import annotations

from typing import Literal

from kombu.connection import Connection

from storage.settings import Settings

__all__ = ["broker_status"]


def broker_status(settings: Settings) -> Literal["ok", "embedded", "unavailable"]:
    """``embedded`` when the SQLite broker opens, ``ok`` when a remote broker answers within 2 s."""
    try:
        with Connection(settings.broker_url, connect_timeout=2) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # noqa: BLE001 - kombu raises many transport-specific errors; all mean unavailable
        return "unavailable"
    return "embedded" if settings.broker_is_embedded else "ok"
