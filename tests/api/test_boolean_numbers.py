"""No number the API parses takes a boolean (``predictors/validation.py``): every model a request body can
hold (found in the OpenAPI document) and every registered method's parameters is an ``EdgeModel``, and
every number field of every ``EdgeModel`` refuses ``true`` with ``bool_not_number`` at its own location;
through the API that is a 422 naming the field. Answers (``*Public``, ``CostEstimate``) are plain models:
nothing parses them from a client, and FastAPI validates each answer again."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

import api.schemas
import predictors.cost.schemas
from api.app import create_app
from predictors.methods import METHODS
from predictors.validation import BOOL_NOT_NUMBER, EdgeModel
from tests.api.test_cost import candidate
from tests.factories import embedded_settings

SCHEMA_MODULES: list[ModuleType] = [
    *(importlib.import_module(f"api.schemas.{info.name}") for info in pkgutil.iter_modules(api.schemas.__path__)),
    predictors.cost.schemas,
]
SCHEMA_CLASSES = {
    value.__name__: value
    for module in SCHEMA_MODULES
    for value in vars(module).values()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__
}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from [value.rsplit("/", 1)[1]] if key == "$ref" else _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def request_models() -> dict[str, type[BaseModel] | None]:
    """Every schema a request body can hold (from the OpenAPI document, following references), by name,
    with its class (None for FastAPI's own form models), and every method's parameters."""
    document = create_app(embedded_settings(Path("/nonexistent"), "sqlite://"), prepare=False).openapi()
    components = document["components"]["schemas"]
    bodies = [op.get("requestBody", {}) for path in document["paths"].values() for op in path.values()]
    todo, found = list(_refs(bodies)), {}
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = SCHEMA_CLASSES.get(name)
            todo.extend(_refs(components[name]))
    return found | {spec.config_cls.__name__: spec.config_cls for spec in METHODS.values()}


def edge_models() -> list[type[BaseModel]]:
    """Every :class:`EdgeModel` subclass: the request models, and those routes parse files and CSV rows into."""
    found, todo = set(), [EdgeModel]
    while todo:
        for model in todo.pop().__subclasses__():
            found.add(model)
            todo.append(model)
    return sorted(found, key=lambda model: f"{model.__module__}.{model.__qualname__}")


def _number(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in {"integer", "number"}


def boolean_payload(schema: dict[str, Any]) -> Any:
    """What puts a boolean where this field's JSON schema wants a number (``True``, ``[True]`` or
    ``{"k": True}``), or None when it holds no number or admits booleans itself."""
    branches = schema.get("anyOf", [schema])
    if any(branch.get("type") == "boolean" for branch in branches):
        return None
    if any(_number(branch) for branch in branches):
        return True
    for branch in branches:
        if branch.get("type") == "array" and _number(branch.get("items", {})):
            return [True]
        if branch.get("type") == "object" and _number(branch.get("additionalProperties")):
            return {"k": True}
    return None


def number_fields() -> list[Any]:
    cases = []
    for model in edge_models():
        properties = model.model_json_schema(mode="validation").get("properties", {})
        for name, schema in properties.items():
            payload = boolean_payload(schema)
            if payload is not None:
                cases.append(pytest.param(model, name, payload, id=f"{model.__qualname__}.{name}"))
    return cases


NUMBER_FIELDS = number_fields()


def test_every_request_model_is_an_edge_model() -> None:
    models = request_models()
    assert {name for name, model in models.items() if model is None} <= {"Body_datasets-create_dataset"}
    assert {"RunCreate", "PlanRequest", "TrainingConfig", "LoraConfig"} <= set(models)
    plain = sorted(name for name, model in models.items() if model is not None and not issubclass(model, EdgeModel))
    assert not plain, f"a request can send these: subclass predictors.validation.EdgeModel, not BaseModel: {plain}"


def test_the_discovery_finds_the_number_fields_of_requests_and_methods() -> None:
    found = {param.id for param in NUMBER_FIELDS}
    expected = {"RunOptions.steps", "TrainingConfig.micro_batch_size", "LoraConfig.rank", "TaskCreate.n_choices"}
    assert expected <= found
    assert len(found) >= 100


@pytest.mark.parametrize(("model", "name", "payload"), NUMBER_FIELDS)
def test_a_number_field_refuses_a_boolean(model: type[BaseModel], name: str, payload: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate({name: payload})
    refused = [error for error in raised.value.errors() if error["loc"][:1] == (name,)]
    # a union (``int | str``) also says why each other branch refused it
    assert [error["msg"] for error in refused if error["type"] == BOOL_NOT_NUMBER] == [
        "expected a number, got a boolean"
    ]


@pytest.mark.parametrize(("model", "name", "payload"), NUMBER_FIELDS[::7])
def test_the_same_field_still_takes_a_number_written_as_text(model: type[BaseModel], name: str, payload: Any) -> None:
    """What lax mode is kept for (CSV rows and form fields are text): "1" is not refused as a boolean."""
    text = {True: "1", "list": ["1"], "dict": {"k": "1"}}[payload if payload is True else type(payload).__name__]
    try:
        model.model_validate({name: text})
    except ValidationError as error:
        assert BOOL_NOT_NUMBER not in {e["type"] for e in error.errors()}


def test_a_boolean_for_a_number_is_a_422_naming_the_field(sqlite_client: TestClient) -> None:
    for path, body in (
        ("training/micro_batch_size", candidate(training={"micro_batch_size": True, "seq_len": 512})),
        ("method/rank", candidate(method={"name": "lora", "rank": True})),
        ("hardware/count", candidate(hardware={"gpu": "H200", "count": False})),
    ):
        response = sqlite_client.post("/v1/cost", json={"candidates": [body]})
        assert response.status_code == 422, response.text
        problem = response.json()
        # pydantic's location (candidates.0.training...) or the method parser's (candidates[0].method...)
        where = re.escape(path.replace("/", "."))
        assert re.match(rf"candidates(\.0|\[0\])\.{where}: expected a number, got a boolean", problem["detail"])
