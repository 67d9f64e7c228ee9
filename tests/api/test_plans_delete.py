"""DELETE /v1/plans/{id}: the plan and its versions go, a verified prediction and its run stay; plan scope;
audited; 404 for an unknown plan (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from storage.db import session_scope
from storage.models import PlanVersionRow, PredictionRow
from storage.repositories import api_keys as keys_repo
from storage.repositories import measurements as measurements_repo
from storage.settings import Settings
from tests.factories import verify_a_prediction

PLAN = {
    "task": {"name": "delete-me", "kind": "classification", "n_choices": 2, "train_examples": 1000},
    "grid": {"models": ["qwen2.5-0.5b"], "methods": [{"name": "lora"}, {"name": "zero_shot"}]},
}


def test_delete_a_plan_keeps_its_verified_prediction_and_run(client: TestClient, settings: Settings) -> None:
    plan = client.post("/v1/plans", json=PLAN).json()
    other = client.post("/v1/plans", json=PLAN).json()
    with session_scope(settings.database_url) as session:
        prediction_id, run_id = verify_a_prediction(session, plan["id"], task="delete-me", accuracy=0.7)

    response = client.delete(f"/v1/plans/{plan['id']}")
    assert response.status_code == 204 and response.content == b""

    assert client.get(f"/v1/plans/{plan['id']}").status_code == 404
    assert [p["id"] for p in client.get("/v1/plans").json()["items"]] == [other["id"]]
    assert client.get(f"/v1/runs/{run_id}").json()["plan"] is None
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(PlanVersionRow).where(PlanVersionRow.plan_id == plan["id"])).all() == []
        kept = session.scalars(select(PredictionRow).where(PredictionRow.plan_id.is_(None))).all()
        assert [p.id for p in kept] == [prediction_id]
        assert len(measurements_repo.calibration_pairs(session=session)) == 1
        left = session.scalars(select(PredictionRow).where(PredictionRow.plan_id == other["id"])).all()
        assert len(left) == len(other["candidates"])  # the other plan is untouched


def test_delete_an_unknown_plan_is_a_404_naming_it(client: TestClient) -> None:
    response = client.delete("/v1/plans/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "nope" in response.json()["detail"]


def test_delete_needs_the_plan_scope_and_is_audited(settings: Settings) -> None:
    settings = settings.model_copy(update={"require_api_keys": True})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        tokens: dict[str, Any] = {}
        with session_scope(settings.database_url) as session:
            for scope in ("read", "plan"):
                key, token = keys_repo.create_key(session=session, name=f"{scope} key", scopes=[scope])
                tokens[scope] = (key.id, {"Authorization": f"Bearer {token}"})
        plan = client.post("/v1/plans", json=PLAN, headers=tokens["plan"][1]).json()
        assert client.delete(f"/v1/plans/{plan['id']}", headers=tokens["read"][1]).status_code == 403
        assert client.get(f"/v1/plans/{plan['id']}", headers=tokens["read"][1]).status_code == 200
        assert client.delete(f"/v1/plans/{plan['id']}", headers=tokens["plan"][1]).status_code == 204
        with session_scope(settings.database_url) as session:
            events = keys_repo.list_audit_events(session=session)
        deletes = [(e.key_id, e.route, e.entity, e.status_code) for e in reversed(events) if e.method == "DELETE"]
        assert deletes == [
            (tokens["read"][0], "/v1/plans/{plan_id}", plan["id"], 403),
            (tokens["plan"][0], "/v1/plans/{plan_id}", plan["id"], 204),
        ]
