"""API keys with scopes, the UI's sign-in, the write rules, the audit log, security headers and CORS, on
both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import _require_keys_beyond_loopback
from api.security import KEY_CACHE_S, SESSION_COOKIE
from storage.db import session_scope
from storage.repositories import api_keys as keys_repo
from storage.settings import Settings

TASK = {"name": "support-intent", "kind": "classification"}


@pytest.fixture
def keyed(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app that requires keys, and one key per scope (bearer headers by scope name)."""
    settings = settings.model_copy(update={"require_api_keys": True})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = {}
        with session_scope(settings.database_url) as session:
            for scope in keys_repo.SCOPES:
                _, token = keys_repo.create_key(session=session, name=f"{scope} key", scopes=[scope])
                headers[scope] = token
        yield client, headers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_key_the_api_is_a_401_and_health_and_docs_stay_open(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = keyed
    response = client.get("/v1/models")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["parameter"] == "Authorization" and "missing" in response.json()["detail"]
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json", "/static/app.css", "/sign-in"):
        assert client.get(path).status_code == 200, path
    wrong = client.get("/v1/models", headers=bearer("tc_0123456789ab_not-the-secret"))
    assert wrong.status_code == 401 and "unknown, revoked or malformed" in wrong.json()["detail"]


def test_each_scope_allows_what_it_names(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = keyed
    assert client.get("/v1/models", headers=bearer(tokens["read"])).status_code == 200
    refused = client.post("/v1/tasks", json=TASK, headers=bearer(tokens["read"]))
    assert refused.status_code == 403 and "'plan' scope" in refused.json()["detail"]
    assert client.post("/v1/tasks", json=TASK, headers=bearer(tokens["plan"])).status_code == 201
    run = {"kind": "finetune", "task": "support-intent", "candidate": {"model": "x", "method": {"name": "lora"}}}
    assert client.post("/v1/runs", json=run, headers=bearer(tokens["plan"])).status_code == 403
    assert client.post("/v1/runs", json=run, headers=bearer(tokens["run"])).status_code != 403
    price = {"usd_per_hour": 3.0}
    assert client.put("/v1/hardware/H200", json=price, headers=bearer(tokens["plan"])).status_code == 403
    assert client.put("/v1/hardware/H200", json=price, headers=bearer(tokens["admin"])).status_code == 200
    assert client.post("/v1/tasks", json={**TASK, "name": "t2"}, headers=bearer(tokens["admin"])).status_code == 201


def test_a_revoked_key_is_refused_once_its_cached_verification_expires(
    keyed: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = keyed
    assert client.get("/v1/models", headers=bearer(tokens["read"])).status_code == 200
    key_id = tokens["read"].split("_")[1]
    with session_scope(settings.database_url) as session:
        keys_repo.revoke_key(session=session, key_id=key_id)
    verifier = client.app.state.key_verifier  # type: ignore[attr-defined]
    start = verifier.clock()
    verifier.clock = lambda: start + KEY_CACHE_S + 1
    assert client.get("/v1/models", headers=bearer(tokens["read"])).status_code == 401


def test_keys_are_stored_as_argon2_hashes_only(settings: Settings, keyed: tuple[TestClient, dict[str, str]]) -> None:
    _, tokens = keyed
    with session_scope(settings.database_url) as session:
        rows = keys_repo.list_keys(session=session)
    assert {row.name for row in rows} == {f"{scope} key" for scope in keys_repo.SCOPES}
    for row in rows:
        assert row.secret_hash.startswith("$argon2id$")
        assert all(token.split("_", 2)[2] not in row.secret_hash for token in tokens.values())
    assert all(row.last_used_at is None for row in rows if row.name == "run key")


def test_the_ui_signs_in_with_a_key_into_an_http_only_same_site_cookie(
    keyed: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = keyed
    page = client.get("/calibration", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/sign-in?next=/calibration"
    bad = client.post("/sign-in", data={"key": "tc_nope_nope", "next": "/calibration"}, follow_redirects=False)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    signed_in = client.post("/sign-in", data={"key": tokens["read"], "next": "/calibration"}, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/calibration"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/calibration")  # the cookie is kept by the client; the page's own API calls carry it
    assert page.status_code == 200 and "Sign out" in page.text and "Calibration" in page.text
    assert client.get("/v1/models").status_code == 200
    assert client.post("/v1/tasks", json=TASK).status_code == 403  # the cookie holds a read key
    out = client.post("/sign-out", follow_redirects=False)
    assert out.status_code == 303 and f"{SESSION_COOKIE}=" in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/v1/models").status_code == 401


def test_sign_in_goes_back_only_to_a_path_on_this_site(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = keyed
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/sign-in", data={"key": tokens["read"], "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/", target


def test_writes_need_a_json_multipart_or_csv_body(client: TestClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(
            "/v1/tasks", content=b'{"name": "x", "kind": "classification"}', headers={"content-type": content_type}
        )
        assert response.status_code == 415, content_type
        assert response.json()["errors"][0]["parameter"] == "Content-Type"
    assert client.get("/v1/tasks").json()["total"] == 0
    files = {"file": ("d.jsonl", b'{"text": "a", "label": "x"}\n', "application/jsonl")}
    assert client.post("/v1/datasets", files=files, data={"kind": "classification"}).status_code != 415
    assert client.post("/v1/runs/nope/cancel").status_code == 404  # no body, no content type needed


def test_every_write_is_audited_with_key_route_and_entity(
    keyed: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, tokens = keyed
    task = client.post("/v1/tasks", json=TASK, headers=bearer(tokens["plan"])).json()
    client.put("/v1/hardware/L4", json={"usd_per_hour": 0.8}, headers=bearer(tokens["admin"]))
    client.put("/v1/hardware/L4", json={"usd_per_hour": 0.8}, headers=bearer(tokens["read"]))  # refused: audited
    client.get("/v1/tasks", headers=bearer(tokens["read"]))  # a read: not audited
    cost = {"candidates": [{"model": "qwen2.5-0.5b", "method": {"name": "zero_shot"}}]}
    assert client.post("/v1/cost", json=cost, headers=bearer(tokens["plan"])).status_code == 200  # stores nothing
    with session_scope(settings.database_url) as session:
        events = keys_repo.list_audit_events(session=session)
    ids = {scope: token.split("_")[1] for scope, token in tokens.items()}
    assert [(e.key_id, e.method, e.route, e.entity, e.status_code) for e in reversed(events)] == [
        (ids["plan"], "POST", "/v1/tasks", task["id"], 201),
        (ids["admin"], "PUT", "/v1/hardware/{hardware_id}", "L4", 200),
        (ids["read"], "PUT", "/v1/hardware/{hardware_id}", "L4", 403),
    ]


def test_security_headers_on_every_response_and_a_policy_on_ui_pages(client: TestClient) -> None:
    for path in ("/v1/models", "/", "/docs", "/v1/nowhere"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in client.get("/").headers["content-security-policy"]
    assert "content-security-policy" not in client.get("/docs").headers  # its page scripts are inline


def test_cors_is_off_unless_origins_are_configured(client: TestClient, settings: Settings) -> None:
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/tasks", headers=preflight).headers
    configured = settings.model_copy(update={"cors_origins": "https://ui.example"})
    with TestClient(create_app(configured)) as cors_client:
        answer = cors_client.options("/v1/tasks", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://ui.example"
        read = cors_client.get("/v1/models", headers={"Origin": "https://ui.example"})
        assert "x-request-id" in read.headers["access-control-expose-headers"].lower()
        other = cors_client.options("/v1/tasks", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_serving_beyond_loopback_requires_keys(tmp_path: Path) -> None:
    settings = Settings(environment="development", data_dir=tmp_path)
    assert not settings.api_keys_required
    assert not _require_keys_beyond_loopback(settings, "127.0.0.1").api_keys_required
    assert not _require_keys_beyond_loopback(settings, "::1").api_keys_required
    assert _require_keys_beyond_loopback(settings, "0.0.0.0").api_keys_required
    off = settings.model_copy(update={"require_api_keys": False})
    assert not _require_keys_beyond_loopback(off, "0.0.0.0").api_keys_required
    assert Settings(environment="production", database_url="postgresql://db/x").api_keys_required


def test_keys_without_admin_have_caps_on_runs_and_plans(keyed: tuple[TestClient, dict[str, str]]) -> None:
    from api.security import CAPS

    client, tokens = keyed
    client.post("/v1/tasks", json=TASK, headers=bearer(tokens["admin"]))
    run = {
        "kind": "finetune",
        "task": "support-intent",
        "candidate": {"model": "qwen2.5-0.5b", "method": {"name": "lora"}},
        "options": {"steps": CAPS.max_run_steps + 1},
    }
    refused = client.post("/v1/runs", json=run, headers=bearer(tokens["run"]))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "#/options/steps" and "admin key" in refused.json()["detail"]
    long = {**run, "options": {"time_limit_s": CAPS.max_run_time_s + 1}}
    assert client.post("/v1/runs", json=long, headers=bearer(tokens["run"])).json()["errors"][0]["pointer"] == (
        "#/options/time_limit_s"
    )
    admin = client.post("/v1/runs", json=run, headers=bearer(tokens["admin"]))  # may fail later, not on the cap
    assert "#/options/steps" not in admin.text
    n = 150  # models x methods x training configurations above the cap
    grid = {
        "models": ["qwen2.5-0.5b"],
        "methods": [{"name": "lora", "rank": r} for r in range(1, n + 1)],
        "training": [{"micro_batch_size": b} for b in range(1, CAPS.max_plan_candidates // n + 2)],
    }
    plan = {"task": TASK, "grid": grid}
    big = client.post("/v1/plans", json=plan, headers=bearer(tokens["plan"]))
    assert big.status_code == 422 and big.json()["errors"][0]["pointer"] == "#/grid"
    assert "candidates per plan" in big.json()["detail"]
