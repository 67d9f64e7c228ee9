"""No input yields a 500: every bad request gets a 4xx ``application/problem+json`` naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import tiny_llama_config


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b"", {"content-type": "application/json"}),
        (b"[1, 2, 3]", {"content-type": "application/json"}),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
        (b'{"id": "x", "config": {}}', {"content-type": "text/plain"}),
        (b'{"id": "x", "config": ' + b"[" * 5000 + b"]" * 5000 + b"}", {"content-type": "application/json"}),
    ],
)
def test_malformed_bodies_are_4xx(sqlite_client: TestClient, content: bytes, headers: dict[str, str]) -> None:
    body = assert_problem(sqlite_client.post("/v1/models/import", content=content, headers=headers), 400, 415, 422)
    assert body["errors"]


@pytest.mark.parametrize(
    "config_patch",
    [
        {"hidden_size": "big"},
        {"hidden_size": 4.5},
        {"hidden_size": True},
        {"hidden_size": -64},
        {"hidden_size": 0},
        {"hidden_size": 10**30},
        {"num_key_value_heads": 3},
        {"num_attention_heads": 1e308},
        {"model_type": ""},
        {"model_type": 7},
        {"tie_word_embeddings": "yes"},
        {"max_position_embeddings": -1},
        {"num_hidden_layers": None, "n_layer": None},
    ],
)
def test_wrong_types_and_sizes_in_config_are_422(sqlite_client: TestClient, config_patch: dict[str, Any]) -> None:
    config = {**tiny_llama_config(), **config_patch}
    body = assert_problem(sqlite_client.post("/v1/models/import", json={"id": "m", "config": config}), 422)
    field = next(iter(config_patch))
    assert body["errors"][0]["pointer"].startswith("#/config/")
    assert field in body["detail"] or body["errors"][0]["pointer"] == f"#/config/{field}"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/v1/models?limit=0", None),
        ("get", "/v1/models?limit=-1", None),
        ("get", "/v1/models?limit=99999999999999999999999", None),
        ("get", "/v1/models?offset=-5", None),
        ("get", "/v1/models?limit=abc", None),
        ("get", "/v1/models/" + "x" * 500, None),
        ("get", "/v1/hardware/%00", None),
        ("put", "/v1/hardware/H200", {"usd_per_hour": "free"}),
        ("put", "/v1/hardware/H200", b'{"usd_per_hour": 1e400}'),
        ("put", "/v1/hardware/H200", b'{"usd_per_hour": NaN}'),
        ("put", "/v1/hardware/H200", {"memory_bytes": 2**70}),
        ("put", "/v1/hardware/H200", {"usd_per_hour": None}),
        ("post", "/v1/models/import", {"id": "m"}),
        ("post", "/v1/models/import", {"id": 5, "config": {}}),
        ("post", "/v1/models/import", {"id": "m", "config": [], "extra": 1}),
        ("post", "/v1/models/import", {"id": "m", "config": tiny_llama_config(), "training_tokens": -1}),
        ("post", "/v1/models/import", {"id": "m", "config": tiny_llama_config(), "release_date": "yesterday"}),
        ("delete", "/v1/models/llama-2-7b", None),
        ("get", "/v1/nowhere", None),
    ],
)
def test_bad_requests_are_4xx_problems(sqlite_client: TestClient, method: str, path: str, payload: Any) -> None:
    if isinstance(payload, bytes):
        response = sqlite_client.request(method, path, content=payload, headers={"content-type": "application/json"})
    else:
        response = sqlite_client.request(method, path, json=payload)
    assert_problem(response, 404, 405, 422)


def test_oversized_body_is_413(sqlite_client: TestClient) -> None:
    huge = json.dumps({"id": "m", "config": {"model_type": "llama", "junk": "x" * 300_000}})
    body = assert_problem(
        sqlite_client.post("/v1/models/import", content=huge, headers={"content-type": "application/json"}), 413
    )
    assert "limit of 262144 bytes" in body["detail"]


def test_oversized_chunked_body_is_413(sqlite_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"id": "m", "config": {"junk": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}}'

    response = sqlite_client.post("/v1/models/import", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
config_keys = st.sampled_from([*tiny_llama_config(), "head_dim", "n_embd", "num_local_experts", "num_experts_per_tok"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model_type=st.sampled_from(["llama", "gpt2", "gpt_neox", "falcon", "phi", "mixtral", "gemma2", "weird", ""]),
    patch=st.dictionaries(config_keys, json_values, max_size=4),
)
def test_fuzzed_configs_never_500(sqlite_client: TestClient, model_type: str, patch: dict[str, Any]) -> None:
    config = {**tiny_llama_config(), "model_type": model_type, **patch}
    response = sqlite_client.post("/v1/models/import", json={"id": "fuzz", "config": config})
    assert response.status_code != 500, response.text
    if response.status_code >= 400:
        assert_problem(response, 409, 422)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_fuzzed_bodies_never_500(sqlite_client: TestClient, body: Any) -> None:
    for method, path in (("post", "/v1/models/import"), ("put", "/v1/hardware/T4")):
        response = sqlite_client.request(method, path, json=body)
        assert response.status_code != 500, response.text
        if response.status_code >= 400:
            assert_problem(response, 404, 409, 422)
