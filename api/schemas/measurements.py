"""Measurements: observed outcomes (PRODUCT.md ``Measurement``)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from api.request_checks import NUL_MESSAGE, BodyProblemError, parse_json_body
from api.schemas.models import METHOD_NAME_MAX_LENGTH, MODEL_ID_MAX_LENGTH
from api.schemas.tasks import UtcDatetime
from predictors.validation import EdgeModel

__all__ = ["CsvRowError", "MeasurementCreate", "MeasurementPublic", "measurement_dicts_from_csv"]


class MeasurementBase(EdgeModel):
    task: str = Field(..., min_length=1, max_length=200, description="Task id or name.")
    candidate: dict[str, Any] = Field(..., max_length=64, description="The Candidate measured (model, method, …).")
    accuracy: float | None = Field(None, ge=0.0, le=1.0)
    cost_usd: float | None = Field(None, ge=0.0, le=1e9)
    gpu_hours: float | None = Field(None, ge=0.0, le=1e9)
    peak_memory_bytes: int | None = Field(None, ge=0, le=2**62)
    step_time_s: float | None = Field(None, ge=0.0, le=1e9)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    eval_examples: int | None = Field(
        None, ge=1, le=10**9, description="Examples the accuracy was measured on: sizes its sampling error."
    )


class MeasurementCreate(MeasurementBase):
    """An imported measurement; ``run:<id>`` sources are written by workers only."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=8, max_length=500, description="'import:<citation>'.")

    @field_validator("source")
    @classmethod
    def _imported(cls, value: str) -> str:
        if not value.startswith("import:") or not value[len("import:") :].strip():
            raise ValueError("must be 'import:<citation>' (run:<id> measurements come from runs)")
        return value

    @field_validator("candidate")
    @classmethod
    def _names_model_and_method(cls, value: dict[str, Any]) -> dict[str, Any]:
        model, method = value.get("model"), value.get("method")
        model_id = model.get("id") if isinstance(model, dict) else model
        method_name = method.get("name") if isinstance(method, dict) else method
        if not isinstance(model_id, str) or not model_id:
            raise ValueError("candidate.model must be a model id or an object with an 'id'")
        if len(model_id) > MODEL_ID_MAX_LENGTH:
            raise ValueError(f"candidate.model: a model id has at most {MODEL_ID_MAX_LENGTH} characters")
        if not isinstance(method_name, str) or not method_name:
            raise ValueError("candidate.method must be a method name or an object with a 'name'")
        if len(method_name) > METHOD_NAME_MAX_LENGTH:
            raise ValueError(f"candidate.method: a method name has at most {METHOD_NAME_MAX_LENGTH} characters")
        return value

    @property
    def model_id(self) -> str:
        model = self.candidate["model"]
        return str(model["id"] if isinstance(model, dict) else model)

    @property
    def method_name(self) -> str:
        method = self.candidate["method"]
        return str(method["name"] if isinstance(method, dict) else method)


class MeasurementPublic(MeasurementBase):
    id: str
    task_id: str | None = Field(None, description="The stored task it belongs to, when its task names one.")
    model: str = Field(description="The candidate's model id.")
    method: str = Field(description="The candidate's method name.")
    source: str
    run: str | None = Field(description="The run that produced it, for run:<id> sources.")
    created_at: UtcDatetime


CSV_REQUIRED_COLUMNS = ("task", "source")
CSV_COLUMNS = (
    "task",
    "source",
    "accuracy",
    "candidate",
    "model",
    "method",
    "method_config",
    "training",
    "cost_usd",
    "gpu_hours",
    "peak_memory_bytes",
    "step_time_s",
    "seed",
    "eval_examples",
)
_CSV_NUMBERS = ("accuracy", "cost_usd", "gpu_hours", "peak_memory_bytes", "step_time_s", "seed", "eval_examples")


class CsvRowError(ValueError):
    """A CSV cell that cannot become a measurement: ``row`` (0-based data row), ``column``, why."""

    def __init__(self, row: int, column: str, message: str) -> None:
        self.where = "header" if row < 0 else f"line {row + 2}"
        super().__init__(f"{self.where}: {column}: {message}")
        self.row, self.column, self.message = row, column, message


def _json_object(row: int, column: str, text: str) -> dict[str, Any]:
    try:
        value = parse_json_body(text.encode())
    except json.JSONDecodeError as exc:
        raise CsvRowError(row, column, f"not valid JSON ({exc.msg})") from None
    except BodyProblemError as exc:
        where = ".".join(str(part) for part in exc.path)
        raise CsvRowError(row, column, f"{where + ': ' if where else ''}{exc.message}") from None
    if not isinstance(value, dict):
        raise CsvRowError(row, column, "must be a JSON object")
    return value


_CSV_INTEGERS = frozenset({"peak_memory_bytes", "seed", "eval_examples"})


def _number(row: int, column: str, text: str) -> float | int:
    """A number cell: finite, and whole in the integer columns ("872" or "872.0")."""
    try:
        number = float(text)
    except ValueError:
        raise CsvRowError(row, column, f"not a number ({text[:40]!r})") from None
    if not math.isfinite(number):
        raise CsvRowError(row, column, f"must be a finite number in range (got {text[:40]!r})")
    if column not in _CSV_INTEGERS:
        return number
    if not number.is_integer():
        raise CsvRowError(row, column, f"must be a whole number (got {text[:40]!r})")
    return int(number)


def _check_header(header: list[str]) -> None:
    if not header:
        raise CsvRowError(-1, "header", "the CSV has no header row")
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise CsvRowError(-1, unknown[0], f"unknown column; known: {', '.join(CSV_COLUMNS)}")
    missing = [name for name in CSV_REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CsvRowError(-1, missing[0], "required column is missing")
    if "candidate" not in header and not {"model", "method"} <= set(header):
        raise CsvRowError(-1, "candidate", "give a 'candidate' JSON column, or 'model' and 'method' columns")


def _row_body(index: int, raw: dict[str | None, Any]) -> dict[str, Any]:
    if None in raw:
        raise CsvRowError(index, "row", "more cells than header columns")
    cells = {str(key).strip(): (value or "").strip() for key, value in raw.items()}
    body: dict[str, Any] = {"task": cells.get("task", ""), "source": cells.get("source", "")}
    if cells.get("candidate"):
        body["candidate"] = _json_object(index, "candidate", cells["candidate"])
    else:
        method: dict[str, Any] = {"name": cells.get("method", "")}
        if cells.get("method_config"):
            method.update(_json_object(index, "method_config", cells["method_config"]))
        candidate: dict[str, Any] = {"model": cells.get("model", ""), "method": method}
        if cells.get("training"):
            candidate["training"] = _json_object(index, "training", cells["training"])
        body["candidate"] = candidate
    for name in _CSV_NUMBERS:
        if cells.get(name):
            body[name] = _number(index, name, cells[name])
    return body


def measurement_dicts_from_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as measurement bodies (validated by :class:`MeasurementCreate` afterwards).

    A header row names the columns (:data:`CSV_COLUMNS`); each row gives ``task``, ``source`` and
    either a ``candidate`` JSON object or ``model`` + ``method`` (with optional ``method_config`` and
    ``training`` JSON objects). Empty cells are absent values. What the ``csv`` module refuses (a NUL, a
    bare carriage return inside an unquoted cell, a cell over its 128 KiB field limit) names its line.
    """
    if "\x00" in text:  # the csv module reads it, PostgreSQL cannot store it
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CsvRowError(line - 2, "row", NUL_MESSAGE)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    bodies: list[dict[str, Any]] = []
    try:
        _check_header([name.strip() for name in (reader.fieldnames or [])])
        for index, raw in enumerate(reader):
            bodies.append(_row_body(index, raw))
    except csv.Error as exc:  # in the header, or in the row after the last one read
        raise CsvRowError(len(bodies) if reader.fieldnames else -1, "row", f"not readable CSV ({exc})") from None
    return bodies
