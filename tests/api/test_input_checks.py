"""Input that used to reach PostgreSQL (or a later read) as a 500 is a 422 naming its field, on both
backends, and stores nothing: NUL characters anywhere, NaN/Infinity and overflowing numbers, nesting past
``MAX_JSON_DEPTH``, over-long integers and ids, and CSV cells the csv module or a column refuses. An
unexpected error is a 500 problem that leaves the connection usable."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.request_checks import MAX_JSON_DEPTH, BodyProblemError, parse_json_body
from tests.conftest import _fresh_postgres_database
from tests.factories import embedded_settings
from tests.processes import free_port

NUL = "a\u0000b"
CANDIDATE = {
    "model": "qwen2.5-0.5b",
    "method": {"name": "lora", "rank": 8},
    "hardware": {"gpu": "H100-SXM", "count": 1},
}
ZERO_SHOT_GRID = {"models": ["qwen2.5-0.5b"], "methods": [{"name": "zero_shot"}]}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def measurement(**changes: Any) -> list[dict[str, Any]]:
    return [{"task": "t", "candidate": CANDIDATE, "accuracy": 0.5, "source": "import:a paper", **changes}]


CSV_HEADER = "task,model,method,method_config,accuracy,seed,peak_memory_bytes,source\n"


def csv_row(**cells: str) -> bytes:
    values = {"task": "t", "model": "qwen2.5-0.5b", "method": "lora", "method_config": "", "accuracy": "0.5"}
    values |= {"seed": "", "peak_memory_bytes": "", "source": "import:a paper", **cells}
    return (CSV_HEADER + ",".join(values[name] for name in CSV_HEADER.strip().split(",")) + "\n").encode()


JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}

# (method, path, body: a JSON value, raw bytes or None, headers, where: "#/pointer" or a parameter name)
CASES: list[tuple[str, str, Any, dict[str, str], str]] = [
    ("post", "/v1/tasks", {"name": NUL, "kind": "classification"}, JSON, "#/name"),
    ("get", "/v1/tasks/a%00b", None, {}, "task_id"),
    ("get", "/v1/models/a%00b", None, {}, "model_id"),
    ("get", "/v1/runs/a%00b", None, {}, "run_id"),
    ("get", "/v1/plans/a%00b", None, {}, "plan_id"),
    ("get", "/v1/measurements?task=a%00b", None, {}, "task"),
    ("get", "/v1/models?family=a%00b", None, {}, "family"),
    ("get", "/plans/a%00b", None, {}, "plan_id"),  # a UI page
    ("put", "/v1/hardware/H200", {"name": NUL}, JSON, "#/name"),
    ("post", "/v1/models/import", {"id": NUL, "config": {"model_type": "llama"}}, JSON, "#/id"),
    ("post", "/v1/cost", {"candidates": [{**CANDIDATE, "model": NUL}]}, JSON, "#/candidates/0/model"),
    ("post", "/v1/cost", {"candidates": [{"mo\u0000del": "x"}]}, JSON, "#/candidates/0"),
    (
        "post",
        "/v1/plans",
        {"task": {"name": NUL, "kind": "classification"}, "grid": ZERO_SHOT_GRID},
        JSON,
        "#/task/name",
    ),
    ("post", "/v1/runs", {"kind": "finetune", "task": NUL, "candidate": CANDIDATE}, JSON, "#/task"),
    (
        "post",
        "/v1/gate",
        {"task": {"name": NUL, "kind": "classification"}, "candidates": [CANDIDATE]},
        JSON,
        "#/task/name",
    ),
    ("post", "/v1/measurements", measurement(task=NUL), JSON, "#/0/task"),
    ("post", "/v1/measurements", measurement(candidate={**CANDIDATE, "note": NUL}), JSON, "#/0/candidate/note"),
    ("post", "/v1/measurements", csv_row(task=NUL), CSV, "#/0/row"),
    # numbers JSON does not have, or that overflow to infinity
    (
        "post",
        "/v1/measurements",
        json.dumps(measurement(candidate={**CANDIDATE, "method": {"name": "lora", "rank": float("nan")}})).encode(),
        JSON,
        "#/0/candidate/method/rank",
    ),
    (
        "post",
        "/v1/plans",
        b'{"task": "t", "grid": {"models": ["qwen2.5-0.5b"], "methods": [{"name": "lora", "rank": 1e400}]}}',
        JSON,
        "#/grid/methods/0/rank",
    ),
    ("put", "/v1/hardware/H200", b'{"usd_per_hour": -Infinity}', JSON, "#/usd_per_hour"),
    (
        "post",
        "/v1/cost",
        b'{"candidates": [{"model": "qwen2.5-0.5b", "method": {"name": "lora", "rank": ' + b"9" * 5000 + b"}}]}",
        JSON,
        "#/",
    ),
    # nesting: past the limit inside a free-form object, and past the parser's recursion limit
    (
        "post",
        "/v1/measurements",
        measurement(candidate={**CANDIDATE, "deep": nested(MAX_JSON_DEPTH + 5)}),
        JSON,
        "#/0/candidate/deep/0",
    ),
    ("post", "/v1/measurements", b"[" * 100_000 + b"]" * 100_000, JSON, "#/"),
    # ids longer than their columns
    ("post", "/v1/measurements", measurement(candidate={**CANDIDATE, "model": "m" * 300}), JSON, "#/0/candidate"),
    (
        "post",
        "/v1/measurements",
        measurement(candidate={**CANDIDATE, "method": {"name": "l" * 300}}),
        JSON,
        "#/0/candidate",
    ),
    # CSV cells
    ("post", "/v1/measurements", csv_row(source="import:" + "x" * 140_000), CSV, "#/0/row"),
    ("post", "/v1/measurements", csv_row(seed="1e400"), CSV, "#/0/seed"),
    ("post", "/v1/measurements", csv_row(seed="nan"), CSV, "#/0/seed"),
    ("post", "/v1/measurements", csv_row(seed="1.5"), CSV, "#/0/seed"),
    ("post", "/v1/measurements", csv_row(peak_memory_bytes="9" * 5000), CSV, "#/0/peak_memory_bytes"),
    ("post", "/v1/measurements", csv_row(method_config='"{""rank"": NaN}"'), CSV, "#/0/method_config"),
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend_client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per backend for the whole module (each case below stores nothing, so they can share it)."""
    root = tmp_path_factory.mktemp(request.param)
    urls = (
        iter([f"sqlite:///{(root / 'tunecast.db').as_posix()}"])
        if request.param == "sqlite"
        else _fresh_postgres_database()
    )
    database_url = next(urls)
    settings = embedded_settings(root, database_url)
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        assert client.post("/v1/tasks", json={"name": "t", "kind": "classification"}).status_code == 201
        yield client
    next(urls, None)  # drops the PostgreSQL database


def stored_counts(client: TestClient) -> dict[str, int]:
    return {name: client.get(f"/v1/{name}").json()["total"] for name in ("tasks", "measurements", "plans", "runs")}


def send(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if body is None:
        return client.request(method, path)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.request(method, path, content=content, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "where"), CASES, ids=[f"{c[0]} {c[1]} {c[4]}" for c in CASES]
)
def test_refused_input_is_a_422_naming_the_field_and_stores_nothing(
    backend_client: TestClient, method: str, path: str, body: Any, headers: dict[str, str], where: str
) -> None:
    before = stored_counts(backend_client)
    response = send(backend_client, method, path, body, headers)
    assert response.status_code == 422, response.text
    if path.startswith("/v1"):
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        if where.startswith("#/"):
            assert errors[0]["pointer"] == where or errors[0]["pointer"].startswith(where + "/"), errors
        else:
            assert errors[0]["parameter"] == where, errors
    assert stored_counts(backend_client) == before
    assert backend_client.get("/v1/measurements").status_code == 200  # nothing stored that breaks a page


def test_a_nul_in_a_form_field_names_it(backend_client: TestClient) -> None:
    files = {"file": ("data.jsonl", b'{"text": "x", "label": "a"}\n', "application/jsonl")}
    response = backend_client.post("/v1/datasets", files=files, data={"task": NUL})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/task"


def test_the_messages_say_why(backend_client: TestClient) -> None:
    def detail(method: str, path: str, body: Any, headers: dict[str, str]) -> str:
        return str(send(backend_client, method, path, body, headers).json()["detail"])

    assert "NUL" in detail("post", "/v1/tasks", {"name": NUL, "kind": "classification"}, JSON)
    assert "finite" in detail("put", "/v1/hardware/H200", b'{"usd_per_hour": NaN}', JSON)
    assert f"deeper than {MAX_JSON_DEPTH}" in detail("post", "/v1/measurements", b"[" * 100_000 + b"]" * 100_000, JSON)
    assert "too long" in detail("post", "/v1/cost", b'{"candidates": [' + b"9" * 5000 + b"]}", JSON)
    assert "line 2" in detail("post", "/v1/measurements", csv_row(seed="nan"), CSV)
    assert "at most 128" in detail(
        "post", "/v1/measurements", measurement(candidate={**CANDIDATE, "model": "m" * 300}), JSON
    )


def test_valid_input_still_passes_through_the_checks(backend_client: TestClient) -> None:
    literal = "a \\u0000 written out, and 1e400 inside a string"
    response = backend_client.post("/v1/measurements", json=measurement(candidate={**CANDIDATE, "note": literal}))
    assert response.status_code == 201, response.text
    assert response.json()[0]["candidate"]["note"] == literal
    assert backend_client.post("/v1/measurements", content=csv_row(seed="872.0"), headers=CSV).json()[0]["seed"] == 872
    deep_enough = measurement(candidate={**CANDIDATE, "deep": nested(MAX_JSON_DEPTH - 4)})
    assert backend_client.post("/v1/measurements", json=deep_enough).status_code == 201


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        (b'{"a": [1, {"b": "x\\u0000"}]}', ("a", 1, "b"), "NUL"),
        (b'{"a\\u0000": 1}', (), "key"),
        (b'{"a": [1, 2, NaN]}', ("a", 2), "finite"),
        (b'{"a": {"b": 1e999}}', ("a", "b"), "finite"),
        (b'"x\\u0000"', (), "NUL"),
        (b"[" * (MAX_JSON_DEPTH + 2) + b"]" * (MAX_JSON_DEPTH + 2), (0,) * (MAX_JSON_DEPTH + 1), "deeper"),
    ],
)
def test_parse_json_body_locates_what_it_refuses(body: bytes, path: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(BodyProblemError) as refused:
        parse_json_body(body)
    assert refused.value.path == path and reason in refused.value.message


def test_parse_json_body_keeps_what_json_allows() -> None:
    body = b'{"a": "\\\\u0000", "b": [1.5, -2e300, 10000000000000000000000], "c": null}'
    assert parse_json_body(body) == {"a": "\\u0000", "b": [1.5, -2e300, 10**22], "c": None}


def _app_with_a_bug(tmp_path: Path) -> FastAPI:
    settings = embedded_settings(tmp_path)
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/broken", broken)
    return app


def test_an_unexpected_error_is_a_500_problem_that_does_not_escape_the_app(tmp_path: Path) -> None:
    with TestClient(_app_with_a_bug(tmp_path), raise_server_exceptions=True) as client:  # raises if it escapes
        response = client.get("/v1/broken")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "a bug" not in response.text


def test_a_500_leaves_the_keep_alive_connection_usable(tmp_path: Path) -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app_with_a_bug(tmp_path), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/v1/broken")
        first = connection.getresponse()
        first.read()
        assert first.status == 500 and first.getheader("connection") != "close"
        connection.request("GET", "/healthz")  # the same connection: reset if the server dropped it
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read()) == {"status": "ok"}
        connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_every_route_checks_its_input(tmp_path: Path) -> None:
    from fastapi.routing import APIRoute

    from api.request_checks import CheckedRoute

    app = _app_with_a_bug(tmp_path)
    included = [route.original_router for route in app.routes if hasattr(route, "original_router")]
    routes = [route for router in included for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 30
    unchecked = [route.path for route in routes if not isinstance(route, CheckedRoute)]
    assert unchecked == [], "routers must use APIRouter(route_class=CheckedRoute)"
