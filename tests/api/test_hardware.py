"""/v1/hardware: the GPU catalog and price edits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

REQUIRED = {"H100-SXM", "H100-PCIe", "H200", "A100-40GB", "A100-80GB", "L40S", "L4", "A10G", "RTX-4090", "T4", "CPU"}


def test_list_hardware_has_every_required_kind(client: TestClient) -> None:
    page = client.get("/v1/hardware").json()
    assert {item["id"] for item in page["items"]} >= REQUIRED
    h100 = next(item for item in page["items"] if item["id"] == "H100-SXM")
    assert h100["memory_bytes"] > 80 * 10**9 and h100["peak_bf16_tflops"] == 989.4 and h100["hbm_gbps"] == 3350


def test_update_hardware_price_persists(client: TestClient) -> None:
    response = client.put("/v1/hardware/H200", json={"usd_per_hour": 2.5})
    assert response.status_code == 200
    assert response.json()["usd_per_hour"] == 2.5
    assert client.get("/v1/hardware/H200").json()["usd_per_hour_edited"] is True


def test_update_hardware_negative_price(client: TestClient) -> None:
    response = client.put("/v1/hardware/H200", json={"usd_per_hour": -1})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/usd_per_hour"


def test_update_hardware_unknown_field(client: TestClient) -> None:
    response = client.put("/v1/hardware/H200", json={"colour": "green"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/colour"


def test_update_hardware_empty_body(client: TestClient) -> None:
    response = client.put("/v1/hardware/H200", json={})
    assert response.status_code == 422
    assert "at least one field" in response.json()["detail"]


def test_update_hardware_not_found(client: TestClient) -> None:
    response = client.put("/v1/hardware/TPU-v9", json={"usd_per_hour": 1.0})
    assert response.status_code == 404
    assert response.json()["errors"] == [{"parameter": "hardware_id", "detail": "unknown hardware 'TPU-v9'"}]


def test_edited_specs_are_listed(client: TestClient) -> None:
    client.put("/v1/hardware/L4", json={"memory_bytes": 2**35})
    client.put("/v1/hardware/L4", json={"usd_per_hour": 0.9})
    l4 = client.get("/v1/hardware/L4").json()
    assert l4["edited_fields"] == ["memory_bytes", "usd_per_hour"] and l4["usd_per_hour_edited"] is True
    assert client.get("/v1/hardware/H100-SXM").json()["edited_fields"] == []


@pytest.mark.parametrize(
    "change", [{"peak_fp32_tflops": 5e-324}, {"memory_bytes": 2**20}, {"hbm_gbps": 0.001}, {"peak_bf16_tflops": 0}]
)
def test_specs_no_real_accelerator_has_are_refused(client: TestClient, change: dict[str, float]) -> None:
    response = client.put("/v1/hardware/L4", json=change)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == f"#/{next(iter(change))}"
    plan = {
        "task": {"name": "t", "kind": "classification"},
        "grid": {"models": ["qwen2.5-0.5b"], "methods": [{"name": "lora"}], "hardware": [{"gpu": "L4"}]},
    }
    assert client.post("/v1/plans", json=plan).status_code == 201


def test_the_update_schema_says_which_specs_may_be_null(client: TestClient) -> None:
    """Found by schemathesis: every field was declared nullable, yet ``"usd_per_hour": null`` is refused."""
    update = client.get("/openapi.json").json()["components"]["schemas"]["HardwareUpdate"]
    nullable = {name for name, field in update["properties"].items() if {"type": "null"} in field.get("anyOf", [])}
    assert nullable == {"peak_bf16_tflops", "peak_fp16_tflops", "interconnect_gbps"}
    assert update["properties"]["usd_per_hour"]["minimum"] == 0 and update["minProperties"] == 1
    response = client.put("/v1/hardware/L4", json={"usd_per_hour": None})
    assert response.status_code == 422 and "usd_per_hour" in response.json()["detail"]
