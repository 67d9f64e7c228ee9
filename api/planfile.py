"""Reading plan files (YAML or JSON): validation errors point at the line that holds the bad value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from api.schemas.gate import PlanFile
from predictors.errors import InvalidInputError
from predictors.methods import parse_method

__all__ = ["PlanFileError", "line_of", "load_plan_file", "plan_file_schema"]


class PlanFileError(ValueError):
    """An unreadable or invalid plan file; ``line`` is 1-based (None when unknown)."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")
        self.line = line
        self.field = field
        self.message = message


def line_of(text: str, path: Sequence[str | int]) -> int | None:
    """1-based line of the YAML/JSON node at ``path`` (the deepest existing ancestor when it is missing)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_plan_file(text: str) -> PlanFile:
    """Parse and validate a plan file (YAML; JSON is YAML too)."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanFileError(f"not valid YAML/JSON: {problem}", line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise PlanFileError("the plan file must be a mapping with 'task' and 'candidates' or 'grid'", line=1)
    try:
        plan = PlanFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [
            part
            for part in error["loc"]
            if not (
                isinstance(part, str)
                and ("[" in part or part in {"str", "TaskSpec", "WeightsObjective", "InlineModel", "PathModel"})
            )
        ]
        field = ".".join(str(p) for p in location) or "plan"
        message = str(error["msg"])
        if "input" in error and error.get("type") not in {"missing", "extra_forbidden"}:
            message += f" (got {error['input']!r})"
        raise PlanFileError(message, line=line_of(text, location), field=field) from None
    methods = (
        [(f"grid.methods[{j}]", m) for j, m in enumerate(plan.grid.methods)]
        if plan.grid is not None
        else [(f"candidates[{i}].method", c.method) for i, c in enumerate(plan.candidates or [])]
    )
    for method_field, method in methods:
        try:
            parse_method(method, field=method_field)
        except InvalidInputError as exc:
            parts: list[str | int] = [
                int(p) if p.isdigit() else p for p in exc.field.replace("[", ".").replace("]", "").split(".")
            ]
            raise PlanFileError(exc.message, line=line_of(text, parts), field=exc.field) from None
    return plan


def plan_file_schema() -> dict[str, Any]:
    """The published JSON Schema of plan files."""
    schema = PlanFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tunecast.dev/schemas/plan-file.schema.json"
    return schema


def dump_schema() -> str:
    return json.dumps(plan_file_schema(), indent=2, sort_keys=True) + "\n"
