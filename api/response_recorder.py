"""The one way an ASGI middleware here watches the response it passes on (idempotency keeps 2xx answers,
the audit log names the entity written)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Message, Send

__all__ = ["ResponseRecorder"]


class ResponseRecorder:
    """An ASGI ``send`` that passes every message through while keeping the status, the content type and
    the body (its first ``max_body_bytes`` at most; ``truncated`` says when more came)."""

    def __init__(self, send: Send, *, max_body_bytes: int | None = None) -> None:
        self.send = send
        self.max_body_bytes = max_body_bytes
        self.status_code = 500
        self.content_type: str | None = None
        self.truncated = False
        self._chunks: list[bytes] = []
        self._size = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
            self.content_type = Headers(raw=message.get("headers", [])).get("content-type")
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if self.max_body_bytes is not None and self._size + len(chunk) > self.max_body_bytes:
                self.truncated = True
            else:
                self._chunks.append(chunk)
                self._size += len(chunk)
        await self.send(message)

    @property
    def body(self) -> bytes:
        return b"".join(self._chunks)
