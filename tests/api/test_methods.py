"""/v1/methods: the registry's names and parameter schemas."""

from __future__ import annotations

from fastapi.testclient import TestClient

from predictors.methods import PRODUCT_METHOD_NAMES


def test_list_methods_serves_every_product_method(sqlite_client: TestClient) -> None:
    page = sqlite_client.get("/v1/methods").json()
    assert {item["name"] for item in page["items"]} == PRODUCT_METHOD_NAMES
    assert page["total"] == len(PRODUCT_METHOD_NAMES)


def test_method_schema_has_bounds_and_descriptions(sqlite_client: TestClient) -> None:
    lora = sqlite_client.get("/v1/methods/lora").json()
    rank = lora["parameter_schema"]["properties"]["rank"]
    assert rank["minimum"] == 1 and rank["maximum"] == 4096 and rank["description"]
    assert lora["defaults"]["rank"] == 16
    assert sqlite_client.get("/v1/methods/dora").json()["parent"] == "lora"


def test_read_method_not_found(sqlite_client: TestClient) -> None:
    response = sqlite_client.get("/v1/methods/lora2")
    assert response.status_code == 404
    assert response.json()["errors"] == [{"parameter": "name", "detail": "unknown method 'lora2'"}]
