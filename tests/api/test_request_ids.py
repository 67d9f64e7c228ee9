"""X-Request-ID: taken from a safe client value or made, echoed on every answer, named in JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.log_context import JsonFormatter, request_id_var
from tests.factories import embedded_settings
from tests.processes import serving, wait_for

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("given", ["abc-123", "A.b_C-9", "x" * 64])
def test_a_safe_request_id_is_echoed(sqlite_client: TestClient, given: str) -> None:
    response = sqlite_client.get("/healthz", headers={"X-Request-ID": given})
    assert response.status_code == 200 and response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "a b", "x" * 65, "a\tb", "abc/123", "naïve", '"quoted"', "a\u2028b"])
def test_an_unsafe_request_id_is_replaced_by_a_new_one(sqlite_client: TestClient, given: str) -> None:
    response = sqlite_client.get("/healthz", headers={b"X-Request-ID": given.encode("utf-8")})
    assert GENERATED.fullmatch(response.headers["x-request-id"]), response.headers["x-request-id"]


def test_a_request_id_is_made_for_every_request_and_echoed_on_errors(sqlite_client: TestClient) -> None:
    made = {sqlite_client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(GENERATED.fullmatch(value) for value in made)
    for response in (
        sqlite_client.get("/v1/no-such-resource", headers={"X-Request-ID": "err-404"}),
        sqlite_client.get("/v1/models", params={"limit": 0}, headers={"X-Request-ID": "err-422"}),
        sqlite_client.post(
            "/v1/tasks",
            content=b"x" * (300 * 1024),
            headers={"X-Request-ID": "err-413", "content-type": "application/json"},
        ),
        sqlite_client.get("/metrics", headers={"X-Request-ID": "metrics"}),
    ):
        assert response.status_code in {404, 422, 413, 200}
        assert response.headers["x-request-id"] == response.request.headers["x-request-id"]
    assert request_id_var.get() is None  # nothing leaks out of a request


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the ``tunecast`` loggers write through a JSON handler, as ``TUNECAST_LOG_FORMAT=json`` sets up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tunecast")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_a_log_line_written_while_handling_a_request_names_it(tmp_path: Path, json_lines: io.StringIO) -> None:
    app = create_app(embedded_settings(tmp_path))

    def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "trace-500"
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    [logged] = [line for line in lines if line["message"] == "unhandled error on GET /boom"]
    assert logged["request_id"] == "trace-500" and "run_id" not in logged
    assert (logged["level"], logged["logger"]) == ("ERROR", "tunecast.api")
    assert "RuntimeError: kaboom" in logged["exception"]
    assert datetime.fromisoformat(logged["time"]).utcoffset() is not None
    assert logged["time"].endswith("+00:00")


@pytest.mark.timeout(120)
def test_tunecast_serves_json_lines_and_its_access_log_names_the_request(tmp_path: Path) -> None:
    env = {"TUNECAST_LOG_FORMAT": "json", "TUNECAST_LOG_LEVEL": "INFO"}
    with serving(tmp_path, env=env) as server:
        response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "served-1"}, timeout=10)
        assert response.headers["x-request-id"] == "served-1"

        def access_line() -> dict[str, Any] | None:
            lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
            return next((line for line in lines if line.get("request_id") == "served-1"), None)

        logged = wait_for(access_line, 10, "the access log line of the request", server.log)
    assert logged["logger"] == "uvicorn.access" and "GET /healthz" in logged["message"]
    lines = server.log.read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines[:5]
