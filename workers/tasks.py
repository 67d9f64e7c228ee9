"""Worker tasks. Later run kinds (fine-tunes, probes) add their own modules to ``TASK_MODULES``."""

from __future__ import annotations

import platform
from typing import Any

from workers.app import celery_app

__all__ = ["ping"]


@celery_app.task(name="tunecast.system.ping", ignore_result=False)  # type: ignore[untyped-decorator]
def ping() -> dict[str, Any]:
    """Round-trip check used by tests and ``tunecast worker --check``: who answered, on which machine."""
    return {"pong": True, "hostname": platform.node(), "python": platform.python_version()}
