"""SQLAlchemy 2 ORM tables. Schemas that leave the API live in ``api/schemas``; these are storage only."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKeyRow",
    "AuditEventRow",
    "Base",
    "BaseModelRow",
    "DatasetRow",
    "HardwareRow",
    "IdempotencyKeyRow",
    "MeasurementRow",
    "MethodRow",
    "PlanRow",
    "PlanVersionRow",
    "PredictionRow",
    "RunEventRow",
    "RunRow",
    "TaskRow",
    "WorkerRow",
    "as_utc",
    "new_id",
    "utcnow",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC time (SQLite hands back naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[Any]: JSONType}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class BaseModelRow(Timestamps, Base):
    """A base model: its architecture (HF config fields) and the counts derived from it."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hf_id: Mapped[str | None] = mapped_column(String(256))
    family: Mapped[str] = mapped_column(String(128), index=True)
    model_type: Mapped[str] = mapped_column(String(64))
    architecture: Mapped[dict[str, Any]]
    total_params: Mapped[int] = mapped_column(BigInteger)
    active_params: Mapped[int] = mapped_column(BigInteger)
    published_params: Mapped[int | None] = mapped_column(BigInteger)
    training_tokens: Mapped[int | None] = mapped_column(BigInteger)
    release_date: Mapped[date | None] = mapped_column(Date)
    license: Mapped[str | None] = mapped_column(String(128))
    benchmarks: Mapped[dict[str, Any]]
    sources: Mapped[dict[str, Any]]
    origin: Mapped[str] = mapped_column(String(16), default="catalog")  # catalog | import


class MethodRow(Timestamps, Base):
    """A registered adaptation method, mirrored from the registry so SQL can join on it."""

    __tablename__ = "methods"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(64))
    parameter_schema: Mapped[dict[str, Any]]


class HardwareRow(Timestamps, Base):
    """An accelerator kind; the fields a user edited (``edited_fields``) keep their values across re-seeding."""

    __tablename__ = "hardware"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    vendor: Mapped[str] = mapped_column(String(32))
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    peak_bf16_tflops: Mapped[float | None] = mapped_column(Float)
    peak_fp16_tflops: Mapped[float | None] = mapped_column(Float)
    peak_fp32_tflops: Mapped[float] = mapped_column(Float)
    hbm_gbps: Mapped[float] = mapped_column(Float)
    interconnect_gbps: Mapped[float | None] = mapped_column(Float)
    usd_per_hour: Mapped[float] = mapped_column(Float)
    edited_fields: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(Text)


class TaskRow(Timestamps, Base):
    """A user's task: what is predicted for (kind, choices and chance level, data sizes, statistics).

    ``train_examples`` / ``test_examples`` hold what the user said; ``stats`` holds what the latest dataset
    measured (``n_train``, ``n_test``), which fills in what the user left out.
    """

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # classification | multiple_choice | generation
    n_choices: Mapped[int | None] = mapped_column(Integer)
    chance_accuracy: Mapped[float | None] = mapped_column(Float)
    train_examples: Mapped[int | None] = mapped_column(BigInteger)
    test_examples: Mapped[int | None] = mapped_column(BigInteger)
    stats: Mapped[dict[str, Any]]


class DatasetRow(Timestamps, Base):
    """An uploaded JSONL dataset, stored on disk under the data dir by content hash."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    n_train: Mapped[int] = mapped_column(Integer)
    n_test: Mapped[int] = mapped_column(Integer)
    split: Mapped[dict[str, Any]]


class PlanRow(Timestamps, Base):
    """A plan: its request and its latest result (``version``); every version is a :class:`PlanVersionRow`."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]  # the latest version's result, kept here so lists read one row per plan
    version: Mapped[int] = mapped_column(Integer, default=1)


class PlanVersionRow(Base):
    """One prediction of a plan: what triggered it (which new measurements), what changed against the
    version before (the pick, the forecasts that moved) and its whole result."""

    __tablename__ = "plan_versions"
    __table_args__ = (Index("ix_plan_versions_plan_version", "plan_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trigger: Mapped[dict[str, Any]]
    changed: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]


class PredictionRow(Timestamps, Base):
    """One candidate's predicted accuracy and cost, kept to be checked against a later measurement."""

    __tablename__ = "predictions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    plan_version: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    candidate_key: Mapped[str] = mapped_column(String(64), index=True)
    candidate: Mapped[dict[str, Any]]
    tier: Mapped[str] = mapped_column(String(16))
    predictor: Mapped[str] = mapped_column(Text)
    accuracy_mean: Mapped[float | None] = mapped_column(Float)
    accuracy_lower: Mapped[float | None] = mapped_column(Float)
    accuracy_upper: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[dict[str, Any]]
    # An imported measurement's forecast, made from the evidence before it was stored (api/import_pairs.py),
    # and that import's content fingerprint, so the same rows imported again add no second pair.
    # use_alter: measurements -> runs -> predictions -> measurements is a cycle; the import flushes its
    # measurements before their predictions (storage/repositories/measurements.py).
    measurement_id: Mapped[str | None] = mapped_column(
        ForeignKey("measurements.id", ondelete="CASCADE", use_alter=True), unique=True
    )
    measurement_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class RunRow(Timestamps, Base):
    """A queued real run; state, progress and result live here, not only in Celery."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), index=True)
    prediction_id: Mapped[str | None] = mapped_column(ForeignKey("predictions.id", ondelete="SET NULL"))
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    candidate: Mapped[dict[str, Any]]
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # steps, seed, shots, learning_rate, …
    predicted: Mapped[dict[str, Any]] = mapped_column(default=dict)  # peak_memory_bytes, step_time_s at submit
    handoffs: Mapped[int] = mapped_column(Integer, default=0)  # re-queued by workers it did not fit
    progress: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The delivery executing a running run holds its lease: renewed while it trains; once it lapses the
    # run is re-queued, and a delivery whose token no longer matches stops (storage.repositories.runs).
    lease_owner: Mapped[str | None] = mapped_column(String(200))  # the worker's Celery node name
    lease_token: Mapped[str | None] = mapped_column(String(64))  # one per delivery
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunEventRow(Base):
    """One progress or status event of a run, in order; ``GET /v1/runs/{id}/events`` streams these."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # status | progress
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MeasurementRow(Timestamps, Base):
    """An observed outcome: from one of our runs (``run:<id>``) or imported with a citation."""

    __tablename__ = "measurements"
    __table_args__ = (
        Index("ix_measurements_task_model", "task", "model_id"),
        # the newest edit is read by every plan (its watermark, the prior's corpus version): a seek, not a scan
        Index("ix_measurements_updated_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    task: Mapped[str] = mapped_column(String(200))  # the task's name (or the name an import gave)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), index=True)
    model_id: Mapped[str] = mapped_column(String(128))
    method_name: Mapped[str] = mapped_column(String(64), index=True)
    candidate: Mapped[dict[str, Any]]
    accuracy: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    gpu_hours: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    step_time_s: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(500))
    seed: Mapped[int | None] = mapped_column(Integer)
    eval_examples: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), unique=True)


class WorkerRow(Base):
    """A worker process as it reports itself: its queues, host, versions, the models it can load and
    when it last said it is alive (a heartbeat every few seconds while it runs)."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # the Celery node name, queue@host
    boot_id: Mapped[str] = mapped_column(String(32))  # new each time the process starts
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    queues: Mapped[list[Any]]
    versions: Mapped[dict[str, Any]]
    model_roots: Mapped[list[Any]]
    models: Mapped[list[Any]]
    hardware: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # online | stopped
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyKeyRow(Base):
    """A POST's ``Idempotency-Key``: claimed before the request runs (``status_code`` empty), then holding
    the answer a repeat of the same request gets back; deleted when the request did not succeed."""

    __tablename__ = "idempotency_keys"

    route: Mapped[str] = mapped_column(String(200), primary_key=True)  # the request path, e.g. /v1/plans
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))  # of the content type and the body
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(200))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An API key: its public id, what it may do (``scopes``) and the argon2 hash of its secret (the secret
    itself is shown once, when the key is created)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[Any]]
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEventRow(Base):
    """One write to the API: which key (none when keys are off), the route, the entity written, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    key_id: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))  # the route template, e.g. /v1/hardware/{hardware_id}
    path: Mapped[str] = mapped_column(String(500))
    entity: Mapped[str | None] = mapped_column(String(200))
    status_code: Mapped[int] = mapped_column(Integer)
    # the request's X-Request-ID (api/request_ids.py): its log lines, and any run it queued, name it too
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
