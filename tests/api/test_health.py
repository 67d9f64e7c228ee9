"""/healthz and /readyz against the embedded broker, the real Redis, and an unreachable broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from storage.settings import Settings


def test_healthz(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/healthz").json() == {"status": "ok"}


def test_readyz_embedded(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "embedded",
        "workers": {"live": 0, "names": [], "queues": {"gpu": 0, "cpu": 0}, "embedded": None},
    }


def _redis_available() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.integration
@pytest.mark.skipif(not _redis_available(), reason="no Redis server answers at 127.0.0.1:6379")
def test_readyz_with_redis_broker(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/t.db", broker_url="redis://127.0.0.1:6379/15"
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert (ready["database"], ready["broker"]) == ("ok", "ok")


def test_readyz_unreachable_broker_is_503(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/t.db", broker_url="redis://127.0.0.1:1/0"
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert (response.json()["database"], response.json()["broker"]) == ("ok", "unavailable")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_need_no_network(sqlite_client: TestClient, page: str) -> None:
    """Every script and stylesheet the docs pages load is served by the app itself (no CDN)."""
    html = sqlite_client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets, html[:500]
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from another host"
        response = sqlite_client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    assert "cdn." not in html and "fonts.googleapis" not in html


def test_openapi_docs_are_served(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/docs").status_code == 200
    spec = sqlite_client.get("/openapi.json").json()
    assert {"/v1/models", "/v1/models/import", "/v1/methods", "/v1/hardware", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )


def test_every_error_answer_is_declared_as_a_problem(sqlite_client: TestClient) -> None:
    """Found by schemathesis: 422s were declared as FastAPI's ``application/json`` validation error, and
    404, 409 and 413 not at all; every operation now declares the problems it can answer."""
    spec = sqlite_client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    post_task = spec["paths"]["/v1/tasks"]["post"]["responses"]
    assert {"400", "409", "413", "422"} <= set(post_task) and "404" not in post_task
    assert spec["paths"]["/v1/runs/{run_id}"]["get"]["responses"]["404"]["content"] == problem
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert response["content"] == problem, (method, path, status)


def test_a_405_allows_every_method_the_path_serves(sqlite_client: TestClient) -> None:
    """Found by schemathesis: GET and POST /v1/tasks are two routes, and the 405 named only the first."""
    response = sqlite_client.options("/v1/tasks")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/problem+json"
    assert sqlite_client.delete("/v1/hardware/H200").headers["allow"] == "GET, PUT"
    assert sqlite_client.get("/v1/models/import").status_code == 404  # the id "import" of GET /v1/models/{id}
    assert sqlite_client.options("/v1/models/import").headers["allow"] == "POST"  # but a resource of its own
