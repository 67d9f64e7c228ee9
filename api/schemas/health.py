from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.workers import WorkersSummary

__all__ = ["Health", "Readiness"]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "embedded", "unavailable"]
    workers: WorkersSummary = Field(description="Live workers by queue, and the embedded worker's state.")
