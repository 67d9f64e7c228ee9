"""``Idempotency-Key`` on every POST, on both backends: a repeated request gets the first answer back and
stores nothing new; another request under the same key is a 409; a refused or failed request leaves the key
unused; a repeat while the first still runs is told to retry; a claim left by a dead process is taken over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.idempotency import request_fingerprint
from storage.db import session_scope
from storage.models import IdempotencyKeyRow, utcnow
from storage.repositories import idempotency as keys_repo
from storage.settings import Settings

CANDIDATE = {"model": "qwen2.5-0.5b", "method": {"name": "lora", "rank": 8}}
TASK = {"name": "support-intent", "kind": "classification", "n_choices": 4}
PLAN = {"task": TASK, "grid": {"models": ["qwen2.5-0.5b"], "methods": [{"name": "zero_shot"}, {"name": "icl"}]}}


def measurements(accuracy: float = 0.5) -> list[dict[str, Any]]:
    return [{"task": "support-intent", "candidate": CANDIDATE, "accuracy": accuracy, "source": "import:a paper"}]


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def total(client: TestClient, resource: str) -> int:
    return int(client.get(f"/v1/{resource}").json()["total"])


def test_a_repeated_post_gets_the_first_answer_and_stores_nothing_new(client: TestClient) -> None:
    for path, body, resource in (
        ("/v1/tasks", TASK, "tasks"),
        ("/v1/measurements", measurements(), "measurements"),
        ("/v1/plans", PLAN, "plans"),
    ):
        first = client.post(path, json=body, headers=keyed(f"k-{resource}"))
        assert first.status_code == 201, first.text
        again = client.post(path, json=body, headers=keyed(f"k-{resource}"))
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        assert again.headers["content-type"] == first.headers["content-type"]
        assert total(client, resource) == 1, resource


def test_without_a_key_each_post_is_new(client: TestClient) -> None:
    client.post("/v1/measurements", json=measurements())
    client.post("/v1/measurements", json=measurements())
    assert total(client, "measurements") == 2


def test_the_same_key_for_another_request_is_a_409_naming_the_header(client: TestClient) -> None:
    assert client.post("/v1/measurements", json=measurements(0.5), headers=keyed("k-1")).status_code == 201
    other = client.post("/v1/measurements", json=measurements(0.6), headers=keyed("k-1"))
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"] == [{"parameter": "Idempotency-Key", "detail": other.json()["errors"][0]["detail"]}]
    assert "different request" in other.json()["detail"]
    assert total(client, "measurements") == 1


def test_keys_are_per_route(client: TestClient) -> None:
    assert client.post("/v1/tasks", json=TASK, headers=keyed("shared")).status_code == 201
    assert client.post("/v1/measurements", json=measurements(), headers=keyed("shared")).status_code == 201


def test_a_refused_request_leaves_the_key_unused(client: TestClient) -> None:
    refused = client.post("/v1/tasks", json={**TASK, "kind": "poetry"}, headers=keyed("k-2"))
    assert refused.status_code == 422
    accepted = client.post("/v1/tasks", json=TASK, headers=keyed("k-2"))
    assert accepted.status_code == 201 and "idempotent-replayed" not in accepted.headers


def test_an_over_long_key_is_a_422_naming_the_header(client: TestClient) -> None:
    response = client.post("/v1/tasks", json=TASK, headers=keyed("k" * 201))
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "Idempotency-Key"
    assert total(client, "tasks") == 0


def test_a_key_on_a_path_longer_than_any_route_is_answered_by_routing(client: TestClient) -> None:
    """Found by schemathesis: the key's route column (200 characters) refused such a path on PostgreSQL,
    a 500 before routing could answer 422 for the over-long run id."""
    response = client.post(f"/v1/runs/{'0' * 190}/cancel", headers=keyed("k-long"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["parameter"] == "run_id"


def test_a_repeat_while_the_first_runs_is_told_to_retry_and_a_dead_claim_is_taken_over(
    client: TestClient, settings: Settings
) -> None:
    body = client.build_request("POST", "/v1/tasks", json=TASK).content
    with session_scope(settings.database_url) as session:
        claim = keys_repo.claim_key(
            session=session,
            route="/v1/tasks",
            key="k-3",
            request_sha256=request_fingerprint("application/json", body),
        )
        assert claim.outcome == "claimed"
    running = client.post("/v1/tasks", content=body, headers={**keyed("k-3"), "content-type": "application/json"})
    assert running.status_code == 409 and running.headers["retry-after"] == "1"
    assert "still being processed" in running.json()["detail"]
    with session_scope(settings.database_url) as session:  # the claiming process died 11 minutes ago
        session.execute(update(IdempotencyKeyRow).values(created_at=utcnow() - timedelta(minutes=11)))
        session.commit()
    taken_over = client.post("/v1/tasks", content=body, headers={**keyed("k-3"), "content-type": "application/json"})
    assert taken_over.status_code == 201, taken_over.text
    assert total(client, "tasks") == 1


def test_answers_older_than_a_day_are_forgotten(client: TestClient, settings: Settings) -> None:
    assert client.post("/v1/measurements", json=measurements(), headers=keyed("old")).status_code == 201
    with session_scope(settings.database_url) as session:
        session.execute(
            update(IdempotencyKeyRow).values(created_at=utcnow() - keys_repo.KEPT_FOR - timedelta(minutes=1))
        )
        session.commit()
    again = client.post("/v1/measurements", json=measurements(), headers=keyed("old"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert total(client, "measurements") == 2


def test_a_failed_request_releases_its_key(client: TestClient, settings: Settings) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    client.app.add_api_route("/v1/broken", broken, methods=["POST"])  # type: ignore[attr-defined]
    assert client.post("/v1/broken", json={}, headers=keyed("k-4")).status_code == 500
    with session_scope(settings.database_url) as session:
        assert keys_repo.list_keys(session=session) == []


def test_every_post_operation_documents_the_header(client: TestClient) -> None:
    operations = [ops["post"] for ops in client.get("/openapi.json").json()["paths"].values() if "post" in ops]
    assert len(operations) >= 10
    for operation in operations:
        names = [parameter["name"].lower() for parameter in operation.get("parameters", [])]
        assert names.count("idempotency-key") == 1, operation["operationId"]
