"""Who may call the API, and what every response carries.

* **API keys with scopes** (``storage.repositories.api_keys``), when ``Settings.api_keys_required``: a
  request sends ``Authorization: Bearer tc_…``, or the UI's sign-in cookie. Each route needs one scope
  (:func:`required_scope`); a key without it is a 403 naming the scope; no key or a bad one a 401 (UI pages
  redirect to the sign-in page). Verified keys are remembered for :data:`KEY_CACHE_S` (argon2 is slow on
  purpose), so a revocation takes effect within that time.
* **Writes** to ``/v1`` carry a JSON, multipart or CSV body (a 415 otherwise): a cross-site form cannot
  send those without a CORS preflight, and the cookie is ``SameSite=Strict``.
* **An audit log** of every request that stores something: key, route, entity, status, when.
* **Security headers** on every response; a Content-Security-Policy on the UI's pages.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.response_recorder import ResponseRecorder
from predictors.errors import InvalidInputError
from storage.db import session_scope
from storage.log_context import request_id_var
from storage.repositories import api_keys as keys_repo
from storage.settings import Settings

__all__ = [
    "CAPS",
    "KEY_CACHE_S",
    "SESSION_COOKIE",
    "AccessMiddleware",
    "Caller",
    "KeyVerifier",
    "ScopeCaps",
    "check_plan_caps",
    "check_run_caps",
    "install_access",
    "required_scope",
]

SESSION_COOKIE = "tunecast_key"
KEY_CACHE_S = 30.0
_OPEN_PREFIXES = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json", "/static", "/sign-in")
_ADMIN_WRITES = ("/v1/hardware", "/v1/models")
_RUN_WRITES = ("/v1/runs",)
NON_STORING_POSTS = frozenset({"/v1/cost", "/v1/gate", "/v1/scaling/fit", "/v1/scaling/predict"})
"""POSTs that compute an answer and store nothing: not audited."""
WRITE_MEDIA_TYPES = frozenset({"application/json", "multipart/form-data", "text/csv"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
UI_CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_open(path: str) -> bool:
    return path.startswith("/static") or any(path == p or path.startswith(p + "/") for p in _OPEN_PREFIXES)


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs (None: open to anyone): reads and UI pages need ``read``; catalog writes
    ``admin``; queueing and cancelling runs ``run``; every other write ``plan``."""
    if _is_open(path):
        return None
    if method not in WRITE_METHODS or not path.startswith("/v1"):
        return "read"
    if path.startswith(_ADMIN_WRITES):
        return "admin"
    if path.startswith(_RUN_WRITES):
        return "run"
    return "plan"


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope == "read" or scope in self.scopes or "admin" in self.scopes


class KeyVerifier:
    """Checks tokens against the database, remembering good ones for :data:`KEY_CACHE_S`."""

    def __init__(self, database_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.database_url = database_url
        self.clock = clock
        self._known: dict[str, tuple[float, Caller]] = {}

    def _verify_in_database(self, token: str) -> Caller | None:
        with session_scope(self.database_url) as session:
            row = keys_repo.verify_key(session=session, token=token)
            return None if row is None else Caller(row.id, row.name, frozenset(row.scopes))

    async def caller(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        known = self._known.get(digest)
        if known is not None and self.clock() - known[0] < KEY_CACHE_S:
            return known[1]
        caller = await to_thread.run_sync(self._verify_in_database, token)
        if caller is None:
            self._known.pop(digest, None)
        else:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[digest] = (self.clock(), caller)
        return caller


@dataclass(frozen=True)
class ScopeCaps:
    """The most one request of a key without ``admin`` may ask for: a worker held for hours or a plan of
    100,000 candidates is an administrator's call. Keys-off services and admin keys keep the schema's bounds."""

    max_run_steps: int = 100_000
    max_run_time_s: float = 4 * 3600
    max_plan_candidates: int = 20_000


CAPS = ScopeCaps()


def _caps(caller: Caller | None) -> ScopeCaps | None:
    return None if caller is None or "admin" in caller.scopes else CAPS


def _over(caller: Caller, field: str, what: str, limit: float) -> InvalidInputError:
    return InvalidInputError(
        field, f"at most {limit:,g} {what} for key {caller.key_id} ({caller.name}); an admin key may ask for more"
    )


def check_run_caps(caller: Caller | None, options: Mapping[str, Any] | None) -> None:
    caps, options = _caps(caller), options or {}
    if caps is None or caller is None:
        return
    if (options.get("steps") or 0) > caps.max_run_steps:
        raise _over(caller, "options.steps", "optimizer steps", caps.max_run_steps)
    if (options.get("time_limit_s") or 0) > caps.max_run_time_s:
        raise _over(caller, "options.time_limit_s", "seconds", caps.max_run_time_s)


def check_plan_caps(caller: Caller | None, candidate_count: int, field: str) -> None:
    caps = _caps(caller)
    if caps is not None and caller is not None and candidate_count > caps.max_plan_candidates:
        raise _over(caller, field, f"candidates per plan (this one has {candidate_count:,})", caps.max_plan_candidates)


def _token(headers: Headers) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def _with_headers(send: Send, scope: Scope) -> Send:
    ui_page = not scope["path"].startswith(("/v1", "/docs", "/redoc", "/static"))

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.extend(SECURITY_HEADERS)
            if ui_page:
                headers.append((b"content-security-policy", UI_CONTENT_SECURITY_POLICY))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


def install_access(app: FastAPI, settings: Settings) -> None:
    """Keys, the write rules, the audit log and the security headers; CORS only for configured origins
    (a preflight is answered before any key is asked for)."""
    app.state.key_verifier = KeyVerifier(settings.database_url)
    app.add_middleware(AccessMiddleware, settings=settings, verifier=app.state.key_verifier)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Idempotent-Replayed", "Retry-After"],
        )


class AccessMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, verifier: KeyVerifier) -> None:
        self.app = app
        self.required = settings.api_keys_required
        self.database_url = settings.database_url
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send, scope)
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        refusal = _media_type_refusal(method, path, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope_needed = required_scope(method, path)
        caller: Caller | None = None
        target: ASGIApp = self.app
        if self.required and scope_needed is not None:
            token = _token(headers)
            caller = await self.verifier.caller(token) if token else None
            target = _denial(method, path, scope_needed, caller, token_given=token is not None) or self.app
        scope.setdefault("state", {})["caller"] = caller
        if method in WRITE_METHODS and path.startswith("/v1") and path not in NON_STORING_POSTS:
            await self._audited(target, scope, receive, send, caller)  # refused writes too
        else:
            await target(scope, receive, send)

    async def _audited(
        self, target: ASGIApp, scope: Scope, receive: Receive, send: Send, caller: Caller | None
    ) -> None:
        recorder = ResponseRecorder(send, max_body_bytes=MAX_AUDITED_BODY_BYTES)
        try:
            await target(scope, receive, recorder)
        finally:
            path_params = scope.get("path_params") or _match_path_params(scope)
            record = partial(
                self._record,
                key_id=caller.key_id if caller else None,
                method=scope["method"],
                route=_route_template(scope["path"], path_params),
                path=scope["path"],
                entity=_entity(recorder, path_params),
                status_code=recorder.status_code,
                request_id=request_id_var.get(),
            )
            await to_thread.run_sync(record)

    def _record(self, **event: Any) -> None:
        with session_scope(self.database_url) as session:
            keys_repo.record_write(session=session, **event)


def _match_path_params(scope: Scope) -> dict[str, Any]:
    """The path parameters of the route a request would reach (for a write refused before routing). FastAPI
    0.16x includes routers as ``_IncludedRouter`` entries whose public ``matches`` keeps them to itself."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match_route = getattr(route, "_match", None)
        found = match_route(dict(scope)) if match_route is not None else route.matches(dict(scope))
        if found[0] == Match.FULL and found[1]:
            return dict(found[1].get("path_params") or {})
    return {}


def _route_template(path: str, path_params: dict[str, Any]) -> str:
    """``/v1/hardware/L4`` -> ``/v1/hardware/{hardware_id}``: the route as its router declares it."""
    parts = path.split("/")
    names = {str(value): name for name, value in path_params.items()}
    return "/".join(f"{{{names[part]}}}" if part in names else part for part in parts)


def _media_type_refusal(method: str, path: str, headers: Headers) -> Any:
    if method not in WRITE_METHODS or not path.startswith("/v1"):
        return None
    content_type = headers.get("content-type")
    has_body = headers.get("content-length", "0") != "0" or "chunked" in headers.get("transfer-encoding", "")
    if content_type is None and not has_body:
        return None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in WRITE_MEDIA_TYPES:
        return None
    detail = f"a request that writes must send {', '.join(sorted(WRITE_MEDIA_TYPES))} (got {media_type or 'none'})"
    return problem_response(415, detail, instance=path, errors=[{"parameter": "Content-Type", "detail": detail}])


def _denial(method: str, path: str, scope_needed: str, caller: Caller | None, *, token_given: bool) -> Any:
    if caller is not None:
        if caller.may(scope_needed):
            return None
        detail = f"API key {caller.key_id} ({caller.name}) lacks the '{scope_needed}' scope this request needs"
        return problem_response(403, detail, instance=path, errors=[{"parameter": "Authorization", "detail": detail}])
    if method in {"GET", "HEAD"} and not path.startswith("/v1"):  # a UI page: sign in first
        return RedirectResponse(f"/sign-in?next={quote(path, safe='/')}", status_code=303)
    why = "is unknown, revoked or malformed" if token_given else "is missing"
    detail = f"an API key {why}: send Authorization: Bearer <key> (create one with `tunecast keys create`)"
    return problem_response(
        401,
        detail,
        instance=path,
        errors=[{"parameter": "Authorization", "detail": detail}],
        headers={"WWW-Authenticate": 'Bearer realm="tunecast"'},
    )


MAX_AUDITED_BODY_BYTES = 256 * 1024
"""A response larger than this is not parsed for the id it names (a plan's can be megabytes)."""


def _entity(recorder: ResponseRecorder, path_params: dict[str, Any]) -> str | None:
    """What a write wrote: its path parameters, else the id (or ids) its small JSON answer names."""
    if path_params:
        return ",".join(str(value) for value in path_params.values())
    if recorder.truncated or not 200 <= recorder.status_code < 300:
        return None
    try:
        body = json.loads(recorder.body)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return str(body["id"])
    if isinstance(body, list):
        ids = [str(item["id"]) for item in body if isinstance(item, dict) and "id" in item]
        return ",".join(ids) if len(ids) <= 3 else f"{len(ids)} items: {ids[0]}…{ids[-1]}"
    return None
