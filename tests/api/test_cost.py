"""POST /v1/cost through the API: catalog and inline models, and every bad input named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from predictors.architecture import architecture_from_hf_config
from predictors.methods import get_method, parse_method
from tests.factories import llama_config, tiny_llama_config


def candidate(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "method": {"name": "lora", "rank": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj"]},
        "training": {"micro_batch_size": 8, "seq_len": 512, "precision": "bf16", "optimizer": "adamw"},
        "hardware": {"gpu": "H200", "count": 1},
    }
    body.update(overrides)
    return body


def test_cost_of_a_catalog_candidate(sqlite_client: TestClient) -> None:
    response = sqlite_client.post("/v1/cost", json={"candidates": [candidate()]})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["total_params"] == 8_030_261_248
    assert result["trainable_params"] == 16 * (4096 + 4096 + 4096 + 1024) * 32
    assert result["fits"] is True
    assert result["peak_memory_bytes"] == sum(result["memory_breakdown"].values())
    assert result["tokens_per_step"] == 8 * 512
    assert result["train_usd"] >= 0 and result["step_time_s"] > 0
    assert result["assumptions"]


def test_cost_of_an_inline_architecture_matches_the_catalog(sqlite_client: TestClient) -> None:
    inline = candidate(model={"id": "my-llama", "architecture": llama_config()})
    catalog = candidate(model="llama-2-7b")
    a, b = sqlite_client.post("/v1/cost", json={"candidates": [inline, catalog]}).json()["results"]
    for key in ("total_params", "trainable_params", "peak_memory_bytes", "train_flops_per_step"):
        assert a[key] == b[key], key


def test_full_finetune_of_70b_does_not_fit_one_gpu(sqlite_client: TestClient) -> None:
    body = candidate(model="llama-2-70b", method={"name": "full"})
    (result,) = sqlite_client.post("/v1/cost", json={"candidates": [body]}).json()["results"]
    assert result["fits"] is False
    assert result["max_micro_batch_that_fits"] == 0


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"model": "no-such-model"}, "#/candidates/0/model"),
        ({"hardware": {"gpu": "TPU", "count": 1}}, "#/candidates/0/hardware/gpu"),
        ({"hardware": {"gpu": "H200", "count": 0}}, "#/candidates/0/hardware/count"),
        ({"training": {"micro_batch_size": 0}}, "#/candidates/0/training/micro_batch_size"),
        ({"training": {"seq_len": -5}}, "#/candidates/0/training/seq_len"),
        ({"method": {"name": "lora", "rank": 0}}, "#/candidates/0/method/rank"),
        ({"method": {"name": "nope"}}, "#/candidates/0/method/name"),
        (
            {"model": {"id": "bad", "architecture": tiny_llama_config(hidden_size=65)}},
            "#/candidates/0/model/architecture/num_attention_heads",
        ),
        (
            {"model": {"id": "bad", "architecture": tiny_llama_config(num_hidden_layers=0)}},
            "#/candidates/0/model/architecture/num_hidden_layers",
        ),
    ],
)
def test_bad_candidate_names_the_field(sqlite_client: TestClient, patch: dict[str, Any], pointer: str) -> None:
    response = sqlite_client.post("/v1/cost", json={"candidates": [candidate(**patch)]})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == pointer


def test_cost_candidate_count_bounds(sqlite_client: TestClient) -> None:
    assert sqlite_client.post("/v1/cost", json={"candidates": []}).status_code == 422
    too_many = sqlite_client.post("/v1/cost", json={"candidates": [candidate()] * 10_001})
    assert too_many.status_code in (413, 422)


def test_cost_of_many_candidates(sqlite_client: TestClient) -> None:
    bodies = [candidate(method={"name": "lora", "rank": r}) for r in (4, 8, 16, 32, 64)] * 40
    results = sqlite_client.post("/v1/cost", json={"candidates": bodies}).json()["results"]
    assert len(results) == 200
    trainable = [r["trainable_params"] for r in results[:5]]
    assert trainable == sorted(trainable) and trainable[1] == 2 * trainable[0]
    arch = architecture_from_hf_config(sqlite_client.get("/v1/models/llama-3.1-8b").json()["architecture"])
    assert trainable[0] == get_method("lora").trainable_params(arch, parse_method({"name": "lora", "rank": 4}))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)
    return bool(a == b)


def test_a_few_candidates_cost_the_same_as_in_a_large_request(sqlite_client: TestClient) -> None:
    """Under ``SMALL_TABLE_ROWS`` candidates are costed one by one, more over arrays: same answers, same
    errors, whichever path a request takes."""
    from api.costing import SMALL_TABLE_ROWS

    varied = [
        candidate(method={"name": "lora", "rank": 8}),
        candidate(
            method={"name": "full"}, training={"micro_batch_size": 2, "seq_len": 1024, "gradient_checkpointing": True}
        ),
        candidate(model="qwen2.5-0.5b", method={"name": "ia3"}, hardware={"gpu": "L4", "count": 1}),
        candidate(model="qwen2.5-7b", method={"name": "qlora", "rank": 16}, hardware={"gpu": "A100-80GB", "count": 2}),
        candidate(method={"name": "icl", "shots": 8}),
        candidate(method={"name": "zero_shot"}),
    ]
    large = (varied * SMALL_TABLE_ROWS)[: SMALL_TABLE_ROWS + 3]
    in_large = sqlite_client.post("/v1/cost", json={"candidates": large}).json()["results"]
    for i, body in enumerate(varied):
        (alone,) = sqlite_client.post("/v1/cost", json={"candidates": [body]}).json()["results"]
        assert _close(alone, in_large[i]), body["method"]
    full_int8 = candidate(
        method={"name": "full"}, training={"micro_batch_size": 1, "seq_len": 256, "precision": "int8"}
    )
    for bodies in (varied, large):  # an error the cost model raises (not the catalog look-up)
        response = sqlite_client.post("/v1/cost", json={"candidates": [*bodies[:-1], full_int8]})
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert error["pointer"] == f"#/candidates/{len(bodies) - 1}/training/precision"
        assert "cannot be stored as int8" in error["detail"]


def _statements(client: TestClient, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The first result of ``POST /v1/cost`` and the SQL statements the request ran."""
    from sqlalchemy import event

    from storage.db import get_engine

    engine = get_engine(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.strip().lower() != "select 1":  # the pool's pre-ping on PostgreSQL
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/v1/cost", json=body)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    return response.json()["results"][0], statements


def test_the_catalog_a_cost_reads_is_kept_until_another_connection_changes_it(
    client: TestClient, database_url: str
) -> None:
    """Issue #15: the models, GPUs and calibration a cost reads are kept per process; an edit committed by any
    other connection (another API process, ``tunecast db upgrade``, a worker) is seen by the next request.
    On SQLite an unchanged file costs no statement at all; elsewhere one version query."""
    import sqlalchemy

    training = {"micro_batch_size": 8, "seq_len": 512, "train_examples": 10_000, "epochs": 1}
    body = {"candidates": [candidate(training=training)]}
    first, _ = _statements(client, body)
    assert first["train_usd"] > 0
    again, statements = _statements(client, body)
    assert again == first
    if database_url.startswith("sqlite"):
        assert statements == []
    else:
        assert len(statements) == 1 and "max" in statements[0].lower(), [s[:80] for s in statements]

    # another process's engine: a connection this process's pool never held
    other = sqlalchemy.create_engine(database_url)
    try:
        with other.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "UPDATE hardware SET usd_per_hour = usd_per_hour * 2, updated_at = :now WHERE id = 'H200'"
                ),
                {"now": datetime.now(UTC)},
            )
    finally:
        other.dispose()
    edited, statements = _statements(client, body)
    assert edited["train_usd"] == pytest.approx(2 * first["train_usd"])
    assert len(statements) > 1  # the version query saw the edit, and the catalog was read again
