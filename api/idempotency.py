"""``Idempotency-Key`` on every POST: a client that retries after a timeout or a dropped connection gets
the first answer back instead of a second plan, task or measurement.

A pure ASGI middleware, so every POST route gets the same behaviour without knowing of it: it claims the
key (``storage.repositories.idempotency``), runs the request, stores a 2xx answer and releases the key of
anything else. Runs keep their own key (it may also come in the body, and binds the run row itself).
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.response_recorder import ResponseRecorder
from storage.db import session_scope
from storage.repositories import idempotency as keys_repo

__all__ = [
    "IDEMPOTENCY_HEADER",
    "KEYED_BY_ROUTE",
    "MAX_KEY_LENGTH",
    "IdempotencyMiddleware",
    "install_idempotency",
    "request_fingerprint",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200  # storage.models.IdempotencyKeyRow.key (and RunRow.idempotency_key)
MAX_ROUTE_LENGTH = 200  # storage.models.IdempotencyKeyRow.route: longer than any POST path a route serves
KEYED_BY_ROUTE = frozenset({"/v1/runs"})
"""POST paths that handle the key themselves."""
IN_PROGRESS_RETRY_AFTER_S = 1


def request_fingerprint(content_type: str, body: bytes) -> str:
    """What makes two POSTs "the same request" under one key: the same content type and the same bytes."""
    digest = hashlib.sha256(content_type.encode())
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


_KEY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "Repeating the request with the same key returns the first answer (24 h) and stores nothing new.",
}


def install_idempotency(app: FastAPI, database_url: str) -> None:
    """The middleware, and the header documented on every POST operation of the OpenAPI schema."""
    app.add_middleware(IdempotencyMiddleware, database_url=database_url)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in generate().get("paths", {}).values():
                post = operations.get("post")
                if post is not None:
                    parameters = post.setdefault("parameters", [])
                    if not any(p.get("name", "").lower() == IDEMPOTENCY_HEADER.lower() for p in parameters):
                        parameters.append(dict(_KEY_PARAMETER))
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, database_url: str) -> None:
        self.app = app
        self.database_url = database_url

    def _call_repository(self, function: Any, **arguments: Any) -> Any:
        with session_scope(self.database_url) as session:
            return function(session=session, **arguments)

    async def _repository(self, function: Any, **arguments: Any) -> Any:
        return await to_thread.run_sync(partial(self._call_repository, function, **arguments))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] in KEYED_BY_ROUTE:
            await self.app(scope, receive, send)
            return
        if len(scope["path"]) > MAX_ROUTE_LENGTH:  # no route serves it (a 404 or 422 from routing), and
            await self.app(scope, receive, send)  # PostgreSQL would refuse to store it as a key's route
            return
        headers = Headers(scope=scope)
        key = headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            await self._refuse(scope, receive, send, 422, f"must be 1 to {MAX_KEY_LENGTH} characters")
            return
        body = await _read_body(receive)
        route = scope["path"]
        claim = await self._repository(
            keys_repo.claim_key,
            route=route,
            key=key,
            request_sha256=request_fingerprint(headers.get("content-type", ""), body),
        )
        if claim.outcome == "replay":
            await _replay(claim, send)
        elif claim.outcome == "conflict":
            message = "was already used for a different request to this route; use a new key for a new request"
            await self._refuse(scope, receive, send, 409, message)
        elif claim.outcome == "in_progress":
            message = f"a request with this key is still being processed; retry in {IN_PROGRESS_RETRY_AFTER_S} s"
            await self._refuse(scope, receive, send, 409, message, retry_after_s=IN_PROGRESS_RETRY_AFTER_S)
        else:
            await self._run_claimed(scope, receive, send, route=route, key=key, body=body)

    async def _run_claimed(
        self, scope: Scope, receive: Receive, send: Send, *, route: str, key: str, body: bytes
    ) -> None:
        recorder = ResponseRecorder(send)
        try:
            await self.app(scope, _replaying(body, receive), recorder)
        except BaseException:
            await self._repository(keys_repo.release_key, route=route, key=key)
            raise
        if 200 <= recorder.status_code < 300:
            await self._repository(
                keys_repo.complete_key,
                route=route,
                key=key,
                status_code=recorder.status_code,
                content_type=recorder.content_type,
                response_body=recorder.body,
            )
        else:  # a refused or failed request binds nothing: the key can be used again
            await self._repository(keys_repo.release_key, route=route, key=key)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, message: str, *, retry_after_s: int | None = None
    ) -> None:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
        response = problem_response(
            status,
            f"{IDEMPOTENCY_HEADER}: {message}",
            instance=scope["path"],
            errors=[{"parameter": IDEMPOTENCY_HEADER, "detail": message}],
            headers=headers,
        )
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's own messages."""
    sent = False

    async def replaying_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying_receive


async def _replay(claim: keys_repo.Claim, send: Send) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if claim.content_type:
        headers.append((b"content-type", claim.content_type.encode("latin-1")))
    body = claim.response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": claim.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
