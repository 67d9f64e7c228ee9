"""Base models, hardware and methods: the shipped catalogs and what users add or edit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import ConflictError, NotFoundError
from storage.models import BaseModelRow, HardwareRow, MethodRow

__all__ = [
    "HARDWARE_FIELDS",
    "Page",
    "create_model",
    "get_hardware",
    "get_model",
    "hardware_ids",
    "hardware_values",
    "list_hardware",
    "list_methods",
    "list_models",
    "models_by_id",
    "update_hardware",
    "upsert_catalog_hardware",
    "upsert_catalog_models",
    "upsert_methods",
]

RowT = TypeVar("RowT")

HARDWARE_FIELDS = (
    "id",
    "name",
    "vendor",
    "memory_bytes",
    "peak_bf16_tflops",
    "peak_fp16_tflops",
    "peak_fp32_tflops",
    "hbm_gbps",
    "interconnect_gbps",
    "usd_per_hour",
)
"""A hardware row's spec, named as the shipped catalog names it (what ``hardware_spec_from_catalog`` reads)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[RowT]):
    items: list[RowT]
    total: int
    limit: int
    offset: int


def list_models(*, session: Session, limit: int, offset: int, family: str | None = None) -> Page[BaseModelRow]:
    query = select(BaseModelRow)
    count = select(func.count()).select_from(BaseModelRow)
    if family is not None:
        query = query.where(BaseModelRow.family == family)
        count = count.where(BaseModelRow.family == family)
    rows = session.scalars(
        query.order_by(BaseModelRow.family, BaseModelRow.total_params, BaseModelRow.id).limit(limit).offset(offset)
    )
    return Page(items=list(rows), total=session.scalar(count) or 0, limit=limit, offset=offset)


def get_model(*, session: Session, model_id: str, field: str = "model_id", location: str = "path") -> BaseModelRow:
    row = session.get(BaseModelRow, model_id)
    if row is None:
        raise NotFoundError("model", model_id, field=field, location=location)
    return row


def models_by_id(*, session: Session, model_ids: Iterable[str]) -> dict[str, BaseModelRow]:
    """The stored models among ``model_ids``, by id (one query however many are named)."""
    ids = set(model_ids)
    return {row.id: row for row in session.scalars(select(BaseModelRow).where(BaseModelRow.id.in_(ids)))}


def create_model(*, session: Session, values: Mapping[str, Any]) -> BaseModelRow:
    """Store an imported model. Re-importing the same architecture is idempotent; a different one under a
    taken id is a conflict."""
    existing = session.get(BaseModelRow, values["id"])
    if existing is not None:
        if existing.architecture == values["architecture"] and existing.origin == "import":
            return existing
        raise ConflictError("id", f"model id {values['id']!r} is already taken by a different model")
    row = BaseModelRow(**values)
    session.add(row)
    session.commit()
    return row


def upsert_catalog_models(*, session: Session, entries: Iterable[Mapping[str, Any]]) -> int:
    """Insert or refresh the shipped models (idempotent); imported models are never touched."""
    changed = 0
    for values in entries:
        row = session.get(BaseModelRow, values["id"])
        if row is None:
            session.add(BaseModelRow(**values, origin="catalog"))
            changed += 1
        elif row.origin == "catalog":
            for key, value in values.items():
                if getattr(row, key) != value:
                    setattr(row, key, value)
                    changed += 1
    session.commit()
    return changed


def list_hardware(*, session: Session, limit: int, offset: int) -> Page[HardwareRow]:
    rows = session.scalars(select(HardwareRow).order_by(HardwareRow.id).limit(limit).offset(offset))
    total = session.scalar(select(func.count()).select_from(HardwareRow)) or 0
    return Page(items=list(rows), total=total, limit=limit, offset=offset)


def get_hardware(
    *, session: Session, hardware_id: str, field: str = "hardware_id", location: str = "path"
) -> HardwareRow:
    row = session.get(HardwareRow, hardware_id)
    if row is None:
        raise NotFoundError("hardware", hardware_id, field=field, location=location)
    return row


def hardware_values(*, session: Session, hardware_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The :data:`HARDWARE_FIELDS` of the stored GPUs among ``hardware_ids``, by id: the database's copy,
    with its ``PUT /v1/hardware`` edits (one query however many are named)."""
    ids = set(hardware_ids)
    rows = session.scalars(select(HardwareRow).where(HardwareRow.id.in_(ids)))
    return {row.id: {key: getattr(row, key) for key in HARDWARE_FIELDS} for row in rows}


def hardware_ids(*, session: Session) -> list[str]:
    """Every stored GPU's id, sorted (what an unknown GPU's error lists)."""
    return sorted(session.scalars(select(HardwareRow.id)))


def update_hardware(*, session: Session, hardware_id: str, changes: Mapping[str, Any]) -> HardwareRow:
    """Edit a hardware row (a price, a spec); every edited field keeps its value across re-seeding."""
    row = get_hardware(session=session, hardware_id=hardware_id)
    for key, value in changes.items():
        setattr(row, key, value)
    row.edited_fields = sorted(set(row.edited_fields) | set(changes))
    session.commit()
    return row


def upsert_catalog_hardware(*, session: Session, entries: Iterable[Mapping[str, Any]]) -> int:
    changed = 0
    for values in entries:
        row = session.get(HardwareRow, values["id"])
        if row is None:
            session.add(HardwareRow(**values))
            changed += 1
            continue
        for key, value in values.items():
            if key in row.edited_fields:
                continue
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed += 1
    session.commit()
    return changed


def list_methods(*, session: Session) -> list[MethodRow]:
    return list(session.scalars(select(MethodRow).order_by(MethodRow.name)))


def upsert_methods(*, session: Session, entries: Iterable[Mapping[str, Any]]) -> int:
    changed = 0
    seen: set[str] = set()
    for values in entries:
        seen.add(values["name"])
        row = session.get(MethodRow, values["name"])
        if row is None:
            session.add(MethodRow(**values))
            changed += 1
            continue
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed += 1
    for row in session.scalars(select(MethodRow).where(MethodRow.name.not_in(seen))):
        session.delete(row)
        changed += 1
    session.commit()
    return changed
