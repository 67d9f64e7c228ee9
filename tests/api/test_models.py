"""/v1/models: the catalog, single models and config import (both database backends)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from storage.catalogs import load_models_catalog
from tests.factories import llama_config, tiny_llama_config


def test_list_models_returns_the_catalog_with_published_counts(client: TestClient) -> None:
    response = client.get("/v1/models", params={"limit": 1000})
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == len(load_models_catalog()) >= 40
    assert len(page["items"]) == page["total"]
    for model in page["items"]:
        assert abs(model["total_params"] - model["published_params"]) <= 0.01 * model["published_params"], model["id"]
        assert model["active_params"] <= model["total_params"]


def test_list_models_paginates(client: TestClient) -> None:
    first = client.get("/v1/models", params={"limit": 5, "offset": 0}).json()
    second = client.get("/v1/models", params={"limit": 5, "offset": 5}).json()
    assert (first["limit"], first["offset"], len(first["items"])) == (5, 0, 5)
    assert not {m["id"] for m in first["items"]} & {m["id"] for m in second["items"]}
    assert first["total"] == second["total"]


def test_list_models_filters_by_family(client: TestClient) -> None:
    page = client.get("/v1/models", params={"family": "Pythia"}).json()
    assert page["total"] == 8
    assert {m["family"] for m in page["items"]} == {"Pythia"}


def test_read_model(client: TestClient) -> None:
    model = client.get("/v1/models/llama-3.1-8b").json()
    assert model["total_params"] == 8_030_261_248
    assert model["architecture"]["num_key_value_heads"] == 8
    assert model["architecture"]["head_dim"] == 128
    assert model["sources"]["architecture"].startswith("https://huggingface.co/")


def test_read_model_has_benchmarks_from_obsscaling(client: TestClient) -> None:
    model = client.get("/v1/models/llama-2-7b").json()
    assert set(model["benchmarks"]) == {
        "MMLU",
        "ARC-C",
        "HellaSwag",
        "Winograd",
        "TruthfulQA",
        "GSM8K",
        "XWinograd",
        "HumanEval",
    }
    assert abs(model["benchmarks"]["MMLU"] - 0.4379609636092418) < 1e-12


def test_read_model_not_found(client: TestClient) -> None:
    response = client.get("/v1/models/no-such-model")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert "no-such-model" in body["detail"]
    assert body["errors"] == [{"parameter": "model_id", "detail": "unknown model 'no-such-model'"}]


def test_import_model_derives_the_same_counts_as_the_catalog(client: TestClient) -> None:
    response = client.post(
        "/v1/models/import", json={"id": "my-llama-2", "config": llama_config(), "family": "Llama-2"}
    )
    assert response.status_code == 201, response.text
    imported = response.json()
    catalog = client.get("/v1/models/llama-2-7b").json()
    assert imported["total_params"] == catalog["total_params"] == 6_738_415_616
    assert imported["origin"] == "import"
    assert client.get("/v1/models/my-llama-2").json()["total_params"] == imported["total_params"]


def test_import_model_moe_active_params(client: TestClient) -> None:
    config = {
        "model_type": "mixtral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "tie_word_embeddings": False,
        "max_position_embeddings": 32768,
    }
    model = client.post("/v1/models/import", json={"id": "my-mixtral", "config": config}).json()
    assert model["total_params"] == 46_702_792_704
    assert model["active_params"] == 12_879_925_248


def test_import_model_repeated_is_idempotent(client: TestClient) -> None:
    body = {"id": "tiny", "config": tiny_llama_config()}
    assert client.post("/v1/models/import", json=body).status_code == 201
    again = client.post("/v1/models/import", json=body)
    assert again.status_code == 201
    assert client.get("/v1/models", params={"family": "llama"}).json()["total"] == 1


def test_import_model_conflict(client: TestClient) -> None:
    response = client.post("/v1/models/import", json={"id": "llama-2-7b", "config": tiny_llama_config()})
    assert response.status_code == 409
    assert response.json()["errors"][0]["pointer"] == "#/id"


def test_import_model_impossible_shape_names_the_field(client: TestClient) -> None:
    response = client.post(
        "/v1/models/import", json={"id": "bad", "config": tiny_llama_config(hidden_size=65, head_dim=None)}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["pointer"] == "#/config/num_attention_heads"
    assert "must divide hidden_size (65)" in body["detail"]


def test_import_model_missing_field(client: TestClient) -> None:
    config = tiny_llama_config()
    del config["vocab_size"]
    response = client.post("/v1/models/import", json={"id": "bad", "config": config})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {"pointer": "#/config/vocab_size", "detail": "is required"}


def test_import_model_negative_size(client: TestClient) -> None:
    response = client.post("/v1/models/import", json={"id": "bad", "config": tiny_llama_config(num_hidden_layers=-2)})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/config/num_hidden_layers"


def test_import_model_bad_id(client: TestClient) -> None:
    response = client.post("/v1/models/import", json={"id": "../etc", "config": tiny_llama_config()})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/id"


def test_model_timestamps_are_utc(client: TestClient) -> None:
    """Found by schemathesis: SQLite's naive timestamps went out without an offset, which is not an
    OpenAPI ``date-time`` (plans had the same)."""
    created_at = client.get("/v1/models/llama-3.1-8b").json()["created_at"]
    assert created_at.endswith(("Z", "+00:00")), created_at
