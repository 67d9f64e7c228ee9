"""Workers as ``GET /v1/workers`` and ``/readyz`` show them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Page
from api.schemas.tasks import UtcDatetime

__all__ = ["EmbeddedWorkerStatus", "WorkerPublic", "WorkersPage", "WorkersSummary"]


class WorkerPublic(BaseModel):
    name: str = Field(description="Celery node name (queues@host).")
    live: bool = Field(description="Online and heard from within the last 30 s.")
    status: Literal["online", "stopped"]
    detail: str | None
    hostname: str
    pid: int | None
    queues: list[str]
    versions: dict[str, str]
    model_roots: list[str] = Field(description="Where it looks for weights (TUNECAST_MODEL_DIRS).")
    models: list[dict[str, Any]] = Field(description="Models it can load: id, path, format, source.")
    hardware: dict[str, Any]
    started_at: UtcDatetime
    last_heartbeat_at: UtcDatetime
    seconds_since_heartbeat: float


class EmbeddedWorkerStatus(BaseModel):
    """The worker ``tunecast serve`` supervises (absent with ``--no-worker`` or in a separate API)."""

    state: Literal["starting", "running", "restarting", "gone", "stopped", "unavailable"]
    pid: int | None
    restarts: int = Field(description="Exits it did not ask for within the last 10 minutes.")
    detail: str | None


class WorkersSummary(BaseModel):
    live: int = Field(description="Live workers.")
    names: list[str] = Field(default_factory=list, description="Their names; details in GET /v1/workers.")
    queues: dict[str, int] = Field(description="Live workers per queue (gpu, cpu).")
    embedded: EmbeddedWorkerStatus | None = None


class WorkersPage(Page[WorkerPublic]):
    embedded: EmbeddedWorkerStatus | None = Field(None, description="The worker `tunecast serve` supervises.")
