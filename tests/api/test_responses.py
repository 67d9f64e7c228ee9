"""api.responses.model_response: the bytes FastAPI writes for a response model, from the route's thread."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from api.responses import model_response


class Moved(BaseModel):
    from_: float = Field(alias="from")
    to: float


def _app() -> FastAPI:
    app = FastAPI()
    moved = Moved.model_validate({"from": float("nan"), "to": 0.5})

    @app.post("/framework", response_model=Moved, status_code=201)
    def framework() -> Moved:
        return moved

    @app.post("/ours", response_model=Moved, status_code=201)
    def ours() -> object:
        return model_response(moved, status_code=201)

    return app


def test_model_response_writes_what_fastapi_writes_for_the_response_model() -> None:
    with TestClient(_app()) as client:
        framework, ours = client.post("/framework"), client.post("/ours")
    assert ours.status_code == framework.status_code == 201
    assert ours.headers["content-type"] == framework.headers["content-type"] == "application/json"
    assert ours.content == framework.content
    assert json.loads(ours.content) == {"from": None, "to": 0.5}  # the alias, and NaN as null


def test_the_routes_keep_their_response_models_in_the_schema(sqlite_client: TestClient) -> None:
    paths = sqlite_client.get("/openapi.json").json()["paths"]
    cost = paths["/v1/cost"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    plan = paths["/v1/plans"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert cost == {"$ref": "#/components/schemas/CostResponse"}
    assert plan == {"$ref": "#/components/schemas/Plan"}
