"""What a cost reads from the database: the catalog's models and GPUs, and the measured GPU steps that refit
the efficiency calibration; and one statement that says whether any of it changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import BaseModelRow, HardwareRow, RunRow
from storage.repositories.catalog import HARDWARE_FIELDS
from storage.repositories.runs import MEASURED_STEPS

__all__ = ["all_hardware_values", "all_model_architectures", "cost_inputs_version"]


def cost_inputs_version(*, session: Session) -> tuple[Any, ...]:
    """(models, latest model edit, GPUs, latest GPU edit, measured fine-tunes, latest finish): changes
    whenever a model or GPU is added, edited or removed or a fine-tune succeeds; one statement of scalar
    subqueries, so a process can keep what it read until this changes."""
    row = session.execute(
        select(
            select(func.count()).select_from(BaseModelRow).scalar_subquery(),
            select(func.max(BaseModelRow.updated_at)).scalar_subquery(),
            select(func.count()).select_from(HardwareRow).scalar_subquery(),
            select(func.max(HardwareRow.updated_at)).scalar_subquery(),
            select(func.count(RunRow.id)).where(MEASURED_STEPS).scalar_subquery(),
            select(func.max(RunRow.finished_at)).where(MEASURED_STEPS).scalar_subquery(),
        )
    ).one()
    return tuple(str(value) for value in row)


def all_model_architectures(*, session: Session) -> dict[str, dict[str, Any] | None]:
    """Every stored model's architecture (its config.json), by id."""
    return {
        model_id: config for model_id, config in session.execute(select(BaseModelRow.id, BaseModelRow.architecture))
    }


def all_hardware_values(*, session: Session) -> dict[str, dict[str, Any]]:
    """Every stored GPU's :data:`HARDWARE_FIELDS` (``PUT /v1/hardware`` edits included), by id."""
    columns = [getattr(HardwareRow, key) for key in HARDWARE_FIELDS]
    rows = (dict(zip(HARDWARE_FIELDS, values, strict=True)) for values in session.execute(select(*columns)))
    return {row["id"]: row for row in rows}
