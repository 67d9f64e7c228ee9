"""Domain errors raised by the predictors; the API maps them to RFC 9457 problems.

``NotFittedError`` (use before ``fit``) is the scaling laws' own, so one class covers every estimator.
"""

from __future__ import annotations

from scaling.errors import NotFittedError

__all__ = ["InfeasibleError", "InvalidInputError", "NotFittedError"]


class InvalidInputError(ValueError):
    """An input the predictors cannot use; ``field`` names it (dotted path, e.g. ``architecture.hidden_size``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InfeasibleError(ValueError):
    """A well-formed request that no candidate can satisfy (e.g. a budget below every candidate)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
