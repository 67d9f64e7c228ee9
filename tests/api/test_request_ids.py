"""X-Request-ID: taken from a safe client value or made, echoed on every answer, named in JSON and text log
lines and kept in the audit log of writes (``tunecast keys audit`` lists it)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.db import session_scope
from storage.log_context import JsonFormatter, TextFormatter, request_id_var
from storage.repositories import api_keys as keys_repo
from storage.settings import Settings
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


def test_an_audited_write_records_its_request_id(client: TestClient, settings: Settings) -> None:
    """Both backends (migration 0009): the id the answer echoes is the one the audit log keeps."""
    given = client.post("/v1/tasks", json={"name": "audited"}, headers={"X-Request-ID": "audit-1"})
    made = client.post("/v1/tasks", json={"name": "audited too"})
    refused = client.put("/v1/hardware/nope", json={"usd_per_hour": 1.0}, headers={"X-Request-ID": "audit-404"})
    assert (given.status_code, made.status_code, refused.status_code) == (201, 201, 404)
    with session_scope(settings.database_url) as session:
        events = list(reversed(keys_repo.list_audit_events(session=session)))
        [only] = keys_repo.list_audit_events(session=session, request_id="audit-404")
        assert (only.route, only.status_code) == ("/v1/hardware/{hardware_id}", 404)
    assert [(e.route, e.request_id) for e in events] == [
        ("/v1/tasks", "audit-1"),
        ("/v1/tasks", made.headers["x-request-id"]),
        ("/v1/hardware/{hardware_id}", "audit-404"),
    ]


def test_tunecast_keys_audit_lists_writes_with_their_request_id(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        task = client.post("/v1/tasks", json={"name": "t"}, headers={"X-Request-ID": "cli-audit-1"}).json()
        client.post("/v1/tasks", json={"name": "u"}, headers={"X-Request-ID": "cli-audit-2"})
    env = {**os.environ, "TUNECAST_DATA_DIR": str(settings.data_dir), "TUNECAST_DATABASE_URL": settings.database_url}
    command = [sys.executable, "-c", "from api.cli import app; app()", "keys", "audit", "--request-id", "cli-audit-1"]
    listed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.strip().splitlines()
    assert header.split()[-2:] == ["request", "id"] and len(rows) == 1
    assert rows[0].split()[-5:] == ["POST", "/v1/tasks", task["id"], "201", "cli-audit-1"]


def test_a_text_log_line_written_while_handling_a_request_names_it(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("tunecast")
    logger.addHandler(handler)
    app = create_app(embedded_settings(tmp_path))

    def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom, methods=["GET"])
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/boom", headers={"X-Request-ID": "trace-text"}).status_code == 500
    finally:
        logger.removeHandler(handler)
    first, *rest = stream.getvalue().split("unhandled error on GET /boom", 1)[1].splitlines()
    assert first == " [request_id=trace-text]" and rest[0] == "Traceback (most recent call last):"


@pytest.mark.timeout(120)
def test_tunecast_serves_text_lines_that_name_the_request(tmp_path: Path) -> None:
    with serving(tmp_path, env={"TUNECAST_LOG_LEVEL": "INFO"}) as server:
        httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "served-text"}, timeout=10)
        line = wait_for(
            lambda: next((x for x in server.log.read_text().splitlines() if "request_id=served-text" in x), None),
            10,
            "the access log line of the request",
            server.log,
        )
    assert " INFO uvicorn.access: " in line and '"GET /healthz HTTP/1.1" 200 [request_id=served-text]' in line
