"""Datasets: the JSONL line formats ``POST /v1/datasets`` accepts, and what it returns.

One JSON object per line:

- classification: ``{"text": str, "label": str | int | bool}``
- multiple choice: ``{"question": str, "choices": [str, …], "answer": int (0-based) | str (one of choices)}``
- generation: ``{"prompt": str, "answer": str}`` or ``{"prompt": str, "checker": {"regex": str}}``

:func:`parse_examples` checks every line and raises an :class:`InvalidInputError` naming the line
(1-based, as editors count) and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from api.schemas.tasks import UtcDatetime
from predictors.errors import InvalidInputError
from predictors.validation import EdgeModel

__all__ = [
    "MAX_EXAMPLES",
    "ClassificationExample",
    "DatasetKind",
    "DatasetPublic",
    "GenerationChecker",
    "GenerationExample",
    "MultipleChoiceExample",
    "ParsedExamples",
    "infer_kind",
    "parse_examples",
]

DatasetKind = Literal["classification", "multiple_choice", "generation"]
MAX_EXAMPLES = 200_000
MAX_TEXT = 100_000


class ClassificationExample(EdgeModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    text: str = Field(..., min_length=1, max_length=MAX_TEXT)
    label: str | int | bool


class MultipleChoiceExample(EdgeModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    question: str = Field(..., min_length=1, max_length=MAX_TEXT)
    choices: list[str] = Field(..., min_length=2, max_length=26)
    answer: int | str

    @field_validator("choices")
    @classmethod
    def _choices_not_blank(cls, value: list[str]) -> list[str]:
        for index, choice in enumerate(value):
            if not choice.strip():
                raise ValueError(f"choice {index} is blank")
        return value

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> MultipleChoiceExample:
        if isinstance(self.answer, int) and not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer index {self.answer} is outside choices 0..{len(self.choices) - 1}")
        if isinstance(self.answer, str) and self.answer not in self.choices:
            raise ValueError(f"answer {self.answer!r} is not one of the choices")
        return self


class GenerationChecker(EdgeModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    regex: str = Field(..., min_length=1, max_length=1000, description="A Python regex the output must contain.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile ({exc})") from None
        return value


class GenerationExample(EdgeModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    prompt: str = Field(..., min_length=1, max_length=MAX_TEXT)
    answer: str | None = Field(None, max_length=MAX_TEXT)
    checker: GenerationChecker | None = None

    @model_validator(mode="after")
    def _answer_or_checker(self) -> GenerationExample:
        if self.answer is None and self.checker is None:
            raise ValueError("needs an 'answer' or a 'checker'")
        return self


_MODELS: dict[str, type[BaseModel]] = {
    "classification": ClassificationExample,
    "multiple_choice": MultipleChoiceExample,
    "generation": GenerationExample,
}


def infer_kind(first: dict[str, Any]) -> DatasetKind:
    """The kind a first example's keys imply, or an error saying which keys each kind needs."""
    if "question" in first or "choices" in first:
        return "multiple_choice"
    if "text" in first or "label" in first:
        return "classification"
    if "prompt" in first:
        return "generation"
    raise InvalidInputError(
        "lines[1]",
        "cannot tell the dataset kind from its keys "
        f"{sorted(first)}; expected text+label, question+choices+answer or prompt+answer",
    )


@dataclass(slots=True)
class ParsedExamples:
    kind: DatasetKind
    n_examples: int
    stats: dict[str, Any] = field(default_factory=dict)
    chance_accuracy: float | None = None


def parse_examples(content: bytes, *, kind: DatasetKind | None) -> ParsedExamples:
    """Validate JSONL ``content`` line by line; blank lines are skipped (and keep their numbers)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("file", f"must be UTF-8 text (bad byte at offset {exc.start})") from None
    objects: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(objects) >= MAX_EXAMPLES:
            raise InvalidInputError("file", f"has more than {MAX_EXAMPLES} examples")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"lines[{number}]", f"line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"lines[{number}]", f"line {number} must be a JSON object, got {type(value).__name__}"
            )
        objects.append((number, value))
    if len(objects) < 2:
        raise InvalidInputError("file", f"needs at least 2 examples (one to train, one to test), got {len(objects)}")
    kind = kind or infer_kind(objects[0][1])
    model = _MODELS[kind]
    labels: set[str] = set()
    inverse_choices: list[float] = []
    for number, value in objects:
        try:
            example = model.model_validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = ".".join(str(part) for part in error["loc"])
            where = f"lines[{number}].{location}" if location else f"lines[{number}]"
            what = f"field '{location}'" if location else "the example"
            raise InvalidInputError(where, f"line {number}, {what}: {error['msg']}") from None
        if isinstance(example, ClassificationExample):
            labels.add(json.dumps(example.label))
        elif isinstance(example, MultipleChoiceExample):
            inverse_choices.append(1.0 / len(example.choices))
    parsed = ParsedExamples(kind=kind, n_examples=len(objects))
    if kind == "classification":
        if len(labels) < 2:
            raise InvalidInputError(
                "file", f"a classification dataset needs at least 2 distinct labels, got {len(labels)}"
            )
        parsed.stats = {"n_labels": len(labels)}
        if len(labels) <= 1000:
            parsed.stats["labels"] = [json.loads(label) for label in sorted(labels)]
        parsed.chance_accuracy = 1.0 / len(labels)
    elif kind == "multiple_choice":
        parsed.chance_accuracy = sum(inverse_choices) / len(inverse_choices)
    return parsed


class DatasetPublic(BaseModel):
    id: str
    task: str | None = Field(description="The task this dataset belongs to.")
    kind: DatasetKind
    content_sha256: str
    n_train: int
    n_test: int
    split: dict[str, Any] = Field(description="How the split was drawn: method, seed, test_fraction, test_indices.")
    created_at: UtcDatetime
