"""A request id for every HTTP request: the client's ``X-Request-ID`` when it is safe to log, else a new
one; set in :data:`storage.log_context.request_id_var` while the request is handled (its log lines and
the runs it queues name it) and echoed in the response's ``X-Request-ID``."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.log_context import request_id_var

__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "request_id_from"]

REQUEST_ID_HEADER = b"x-request-id"
# Safe in a log line, a header and a Celery message as it is: no spaces, quotes or control characters.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's first ``X-Request-ID`` when it is 1-64 characters of ``[A-Za-z0-9._-]``, else a new
    uuid4 hex: anything else could forge or break log lines."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SAFE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI, so streamed responses pass through untouched; a few microseconds a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
