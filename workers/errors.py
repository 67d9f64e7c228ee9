"""Why a run stops early: bad input it cannot use, a cancel, a lost lease, or a transient failure worth a retry."""

from __future__ import annotations

__all__ = ["RunCancelledError", "RunInputError", "RunLeaseLostError", "RunTimeLimitError", "TransientRunError"]


class RunInputError(ValueError):
    """The run cannot work with what it was given (``field`` names it); never retried."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RunCancelledError(Exception):
    """``POST /v1/runs/{id}/cancel`` set the flag; the run stops at its next step check."""


class RunLeaseLostError(Exception):
    """This delivery's lease on the run lapsed and another took the run over (or it was re-queued): stop
    training and record nothing; the run's result is the holder's to write."""


class TransientRunError(RuntimeError):
    """A failure expected to pass (broker or database briefly away); the task retries it."""


class RunTimeLimitError(RuntimeError):
    """The run went past its time limit (checked between steps); it fails and is not retried."""
