"""The production Celery app with a short Redis visibility timeout (15 s, or ``TEST_VISIBILITY_TIMEOUT_S``).

Production keeps ``VISIBILITY_TIMEOUT_S`` (12 h, above the longest run): a message whose worker died is
redelivered only after it. The tests cannot wait 12 hours, so they shorten the timeout (and sweep for
expired messages every second), which also makes Redis hand a long run's message to a second worker
while the first still trains it: the run's lease must refuse that delivery.
"""

from __future__ import annotations

import os

from workers.app import celery_app

celery_app.conf.broker_transport_options = {
    **(celery_app.conf.broker_transport_options or {}),
    "visibility_timeout": int(os.environ.get("TEST_VISIBILITY_TIMEOUT_S", "15")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

__all__ = ["celery_app"]
