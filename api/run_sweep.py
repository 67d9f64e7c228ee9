"""Each API process puts back stranded runs, so a run whose worker died does not stay ``running`` when no
worker is left to notice.

A live worker's heartbeat re-queues a run whose lease lapsed (``workers/presence.py``); with every worker
gone, nothing would. This thread runs the same re-queue (``workers.dispatch.recover_orphans``) every
``TUNECAST_RUN_LEASE_S``, first at start-up: a lapsed run is back in the queue at most two leases after its
last renewal. The run is then ``queued`` and ``GET /v1/runs/{id}`` says what it waits for (``waiting_for``:
no live worker consumes its queue); the next worker resumes it from its checkpoint. The claim is one
conditional UPDATE per run (``storage.repositories.workers.requeue_orphaned_runs``), so of several API
processes and workers sweeping at once exactly one re-queues and enqueues each run, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading

from storage.settings import Settings
from workers.dispatch import recover_orphans

__all__ = ["RunSweep"]

logger = logging.getLogger("tunecast.api")


class RunSweep:
    """The sweep thread of one API process: :meth:`start` with the app, :meth:`stop` with it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval_s(self) -> float:
        """A lease: workers, when alive, notice within a third of it; this is the fallback."""
        return self.settings.run_lease_s

    def sweep_once(self) -> int:
        """Re-queue what is stranded now; returns how many runs went back (0 when the sweep failed: the
        next one tries again, and a broken database must not end the thread)."""
        try:
            return recover_orphans(self.settings)
        except Exception:
            logger.exception("the sweep of stranded runs failed; it runs again in %.0f s", self.interval_s)
            return 0

    def _loop(self) -> None:
        self.sweep_once()
        while not self._stop.wait(self.interval_s):
            self.sweep_once()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tunecast-run-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
