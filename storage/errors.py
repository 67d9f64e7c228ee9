"""Domain errors raised by repositories; the API maps them to RFC 9457 problems."""

from __future__ import annotations

__all__ = ["ConflictError", "NotFoundError", "UnavailableError"]


class NotFoundError(LookupError):
    """No row with that id; ``field`` names the input that held it (``model_id``, ``candidates[2].model``)."""

    def __init__(self, resource: str, identifier: str, *, field: str = "id", location: str = "path") -> None:
        super().__init__(f"{resource} {identifier!r} not found")
        self.resource = resource
        self.identifier = identifier
        self.field = field
        self.location = location  # path | query | body: where the API request carried the id


class ConflictError(RuntimeError):
    """A write that contradicts what is stored (an id taken by a different object)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnavailableError(RuntimeError):
    """Something a request needs is down or saturated (503 with ``Retry-After``). The message is for the
    client: it says what and what to do, never an internal address (that goes to the log)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
