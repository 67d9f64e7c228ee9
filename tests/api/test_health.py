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
