"""The production Celery app with a 15-second Redis visibility timeout, for the SIGKILL test only.

Production keeps ``VISIBILITY_TIMEOUT_S`` (12 h, above the longest run): a message whose worker died is
redelivered only after it. The test cannot wait 12 hours, so it shortens the timeout (and sweeps for
expired messages every second); the runs it starts finish well inside 15 seconds.
"""

from __future__ import annotations

from workers.app import celery_app

celery_app.conf.broker_transport_options = {
    **(celery_app.conf.broker_transport_options or {}),
    "visibility_timeout": 15,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

__all__ = ["celery_app"]
