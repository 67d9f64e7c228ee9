"""Bounds on one process's work: bodies over ``max_request_bytes`` get a 413 problem before any parsing;
long-lived requests (event streams) beyond their limit get a 503 with ``Retry-After``."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.errors import UnavailableError

__all__ = ["BodySizeLimitMiddleware", "ConcurrencyLimit", "SaturatedError"]


class SaturatedError(UnavailableError):
    """This process already serves as many of a long-lived kind of request as it allows (503)."""

    def __init__(self, what: str, limit: int, setting: str, retry_after_s: int) -> None:
        message = f"this API process already serves {limit} {what} ({setting}); retry in {retry_after_s} s"
        super().__init__(message, retry_after_s=retry_after_s)


class ConcurrencyLimit:
    """At most ``limit`` of one kind of long-lived request at once in this process. Used from the event
    loop only (async routes), so a plain counter is enough."""

    def __init__(self, what: str, limit: int, *, setting: str, retry_after_s: int = 5) -> None:
        self.what, self.limit, self.setting, self.retry_after_s = what, limit, setting, retry_after_s
        self.active = 0

    def acquire(self) -> Callable[[], None]:
        """Take a slot, or raise :class:`SaturatedError`; returns the release (safe to call twice)."""
        if self.active >= self.limit:
            raise SaturatedError(self.what, self.limit, self.setting, self.retry_after_s)
        self.active += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.active -= 1

        return release


class BodySizeLimitMiddleware:
    """Pure ASGI middleware: checks Content-Length and counts streamed bytes (chunked uploads too)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"request body exceeds the limit of {self.max_bytes} bytes",
                "instance": scope.get("path"),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, send)
                    return
        # Read the whole body first (bounded by max_bytes), then replay it: the app never sees a partial body.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
