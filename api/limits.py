"""Bounds on one process's work: bodies over ``max_request_bytes`` get a 413 problem before any parsing;
long-lived or heavy requests (event streams, plan computations) beyond their limit get a 503 with
``Retry-After``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
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
    """At most ``limit`` of one kind of request at once in this process; past it a 503 with Retry-After.

    :meth:`acquire` takes a free slot or refuses at once, from the event loop or a worker thread (the
    counter is locked). :meth:`wait` is for the event loop: it queues up to ``wait_s`` for a slot (first
    come, first served), holding no thread and no connection, so a burst is served in turn instead of
    being refused; slots freed while others wait are handed to the first of them.
    """

    def __init__(self, what: str, limit: int, *, setting: str, retry_after_s: int = 5, wait_s: float = 0.0) -> None:
        self.what, self.limit, self.setting, self.retry_after_s, self.wait_s = (
            what,
            limit,
            setting,
            retry_after_s,
            wait_s,
        )
        self.active = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def n_waiting(self) -> int:
        """Requests queued for a slot now."""
        return len(self._waiters)

    def _saturated(self) -> SaturatedError:
        return SaturatedError(self.what, self.limit, self.setting, self.retry_after_s)

    def acquire(self) -> Callable[[], None]:
        """Take a slot, or raise :class:`SaturatedError` (also when others queue for one); returns the
        release (safe to call twice)."""
        with self._lock:
            if self.active >= self.limit or self._waiters:
                raise self._saturated()
            self.active += 1
        return self._releaser()

    async def wait(self) -> Callable[[], None]:
        """Take a slot, queueing up to ``wait_s`` for one, else raise :class:`SaturatedError`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.active < self.limit and not self._waiters:
                self.active += 1
                return self._releaser()
            if self.wait_s <= 0:
                raise self._saturated()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait_s)
        except BaseException as exc:  # timed out, or the client went away: leave the queue or give the slot on
            with self._lock:
                queued = (loop, waiter) in self._waiters
                if queued:
                    self._waiters.remove((loop, waiter))
            if not queued:
                self._release()  # it was handed over as we stopped waiting
            if isinstance(exc, TimeoutError):
                raise self._saturated() from None
            raise
        return self._releaser()

    def _release(self) -> None:
        with self._lock:
            if not self._waiters:
                self.active -= 1
                return
            loop, waiter = self._waiters.popleft()  # the slot passes on: ``active`` stays
        try:
            loop.call_soon_threadsafe(_wake, waiter)
        except RuntimeError:  # that waiter's loop has closed: pass the slot to the next
            self._release()

    def _releaser(self) -> Callable[[], None]:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release()

        return release


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
