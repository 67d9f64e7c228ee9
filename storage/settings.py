"""The one settings object (pydantic-settings, ``TUNECAST_`` prefix), read through :func:`get_settings`.

Nothing else in tunecast reads ``os.environ``: the API, the CLI, the workers and Alembic all take
their database, broker and data directory from here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "export_for_child_processes", "get_settings"]


class Settings(BaseSettings):
    """tunecast's settings; every field can be set as ``TUNECAST_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TUNECAST_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(Path(".tunecast"), description="Where the embedded database, broker and datasets live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker URL; empty means the embedded SQLite broker in data_dir.")
    max_request_bytes: int = Field(32 * 1024 * 1024, ge=1024, le=2**31, description="Largest accepted request body.")
    max_event_streams: int = Field(
        200, ge=1, le=100_000, description="Open run event streams per API process; more get 503 with Retry-After."
    )
    max_concurrent_plans: int = Field(
        4,
        ge=1,
        le=10_000,
        description="Plans computed at once per API process (POST /v1/plans, re-predicting reads, POST /v1/gate); "
        "more queue for up to plan_wait_s, then get 503 with Retry-After.",
    )
    plan_wait_s: float = Field(
        10.0, ge=0.0, le=3600.0, description="How long a plan queues for one of max_concurrent_plans before a 503."
    )
    require_api_keys: bool | None = Field(
        None,
        description="Every /v1 request and UI page needs an API key (tunecast keys create). Unset: required in "
        "production and when tunecast serve listens beyond loopback.",
    )
    cors_origins: str = Field(
        "", description="Origins allowed to call the API from a browser, comma-separated; empty means CORS off."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text",
        description="json: one JSON object per log line (time, level, logger, message, request_id, run_id, "
        "exception), from tunecast serve and the workers.",
    )
    model_dirs: str = Field(
        "",
        description="Directories workers load model weights from, separated by ':' (os.pathsep); empty means "
        "<data_dir>/models. A catalog id resolves to <root>/<id>/ (HF directory or one .gguf) or <root>/<id>.gguf.",
    )
    run_lease_s: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="How long a worker's hold on a running run lasts unrenewed (it renews every third of it): "
        "once it lapses, as when the worker died, any live worker re-queues the run and a cancel ends it at once.",
    )
    checkpoint_every_steps: int = Field(
        200,
        ge=0,
        le=10**9,
        description="Fine-tunes save their trainable weights, optimizer and RNG state under <data_dir>/checkpoints "
        "every this many steps, so a re-queued run resumes there; 0 saves none.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        """``postgresql://`` and ``postgres://`` select psycopg 3, the driver tunecast installs."""
        value = value.strip()
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _defaults_in_data_dir(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'tunecast.db').as_posix()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.data_dir / 'broker.db').as_posix()}"
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError("TUNECAST_DATABASE_URL must name a PostgreSQL server in production")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def broker_is_embedded(self) -> bool:
        return self.broker_url.startswith("sqla+")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def api_keys_required(self) -> bool:
        return self.require_api_keys if self.require_api_keys is not None else self.environment == "production"

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def model_roots(self) -> list[Path]:
        """The model roots, absolute (``model_dirs``, else ``<data_dir>/models``)."""
        parts = [part.strip() for part in self.model_dirs.split(os.pathsep) if part.strip()]
        roots = [Path(part) for part in parts] or [self.data_dir / "models"]
        return [root.expanduser().absolute() for root in roots]

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def public(self) -> dict[str, Any]:
        """Settings safe to show (passwords in URLs masked)."""
        from sqlalchemy.engine import make_url

        def mask(url: str) -> str:
            try:
                return make_url(url.replace("sqla+", "", 1)).render_as_string(hide_password=True)
            except Exception:  # noqa: BLE001 - any unparseable URL is shown masked, never raised
                return "<unparseable>"

        return {
            "data_dir": str(self.data_dir),
            "database_url": mask(self.database_url),
            "broker_url": mask(self.broker_url),
        }


@lru_cache
def get_settings() -> Settings:
    return Settings()


def export_for_child_processes(name: str, value: str) -> None:
    """Set ``name`` for the processes this one starts, the one write beside the one read: ``tunecast serve
    --workers N`` names its metrics directory (``PROMETHEUS_MULTIPROC_DIR``), which prometheus_client reads
    itself in each API process."""
    os.environ[name] = value
