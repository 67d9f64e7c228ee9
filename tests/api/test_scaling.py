"""/v1/scaling/fit and /v1/scaling/predict: every law by name, bad points named."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

COSMOS_PROBES = [{"x": 0, "y": 0.316}, {"x": 1, "y": 0.526}, {"x": 8, "y": 0.620}]


def test_fit_and_predict_icl_shots_reproduces_cosmos(sqlite_client: TestClient) -> None:
    fit = sqlite_client.post("/v1/scaling/fit", json={"law": "icl_shots", "points": COSMOS_PROBES})
    assert fit.status_code == 200, fit.text
    body = fit.json()
    assert body["law"] == "icl_shots"
    assert body["params"]["pi0"] == pytest.approx(0.316)
    assert body["diagnostics"]["n_points"] == 3
    predicted = sqlite_client.post(
        "/v1/scaling/predict", json={"law": "icl_shots", "params": body["params"], "x": [2, 4, 16]}
    ).json()
    assert predicted["y"] == pytest.approx([0.591, 0.617, 0.620], abs=0.001)


def test_fit_chinchilla_recovers_parameters_with_intervals(sqlite_client: TestClient) -> None:
    rng = np.random.default_rng(0)
    n = 10 ** rng.uniform(7, 10, 60)
    d = 10 ** rng.uniform(9, 12, 60)
    loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    points = [
        {"x": {"n_params": float(a), "n_tokens": float(b)}, "y": float(c)} for a, b, c in zip(n, d, loss, strict=True)
    ]
    body = sqlite_client.post("/v1/scaling/fit", json={"law": "chinchilla", "points": points}).json()
    assert body["diagnostics"]["success"] is True
    assert body["params"]["E"] == pytest.approx(1.69, rel=0.05)
    assert body["params"]["alpha"] == pytest.approx(0.34, rel=0.05)
    assert set(body["intervals"]) >= {"E", "A", "alpha", "B", "beta"}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"law": "moores_law", "points": COSMOS_PROBES}, "#/law"),
        ({"law": "icl_shots", "points": [{"x": 0, "y": 0.3}]}, "#/points"),
        ({"law": "icl_shots", "points": [{"x": -1, "y": 0.3}, {"x": 1, "y": 0.5}, {"x": 8, "y": 0.6}]}, "#/points/0/x"),
        ({"law": "icl_shots", "points": COSMOS_PROBES, "options": {"loss": "magic"}}, "#/options/loss"),
        ({"law": "icl_shots", "points": [{"x": 0, "y": "high"}]}, "#/points/0/y"),
        ({"law": "icl_shots", "points": []}, "#/points"),
    ],
)
def test_fit_bad_input_names_the_point(sqlite_client: TestClient, body: dict, pointer: str) -> None:  # type: ignore[type-arg]
    response = sqlite_client.post("/v1/scaling/fit", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"].startswith(pointer)


def test_fit_nan_point_is_rejected(sqlite_client: TestClient) -> None:
    content = b'{"law": "icl_shots", "points": [{"x": 0, "y": NaN}, {"x": 1, "y": 0.5}, {"x": 8, "y": 0.6}]}'
    response = sqlite_client.post("/v1/scaling/fit", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_predict_missing_parameter_is_named(sqlite_client: TestClient) -> None:
    response = sqlite_client.post("/v1/scaling/predict", json={"law": "icl_shots", "params": {"alpha": 0.3}, "x": [1]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"].startswith("#/params")
