"""No worker alive: two real API processes (``tunecast serve --workers 2``) on the embedded broker, a fine-tune
whose only worker is SIGKILLed after a checkpoint. The API re-queues the run once (one of its processes
wins the claim), says it waits for a worker, and the worker started later resumes it from its checkpoint and
completes it exactly once. The embedded broker never redelivers the dead worker's message, so only the
API's re-queue can bring the run back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.db import session_scope
from storage.models import RunEventRow
from storage.settings import Settings
from tests.processes import served_settings, serving
from tests.workers.test_runs_end_to_end import (
    EVERY,
    SHORT_LEASES,
    Worker,
    assert_resumed_once,
    checkpoint_step,
    events_of,
    post_run,
    setup_task,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def requeued_events(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    with session_scope(settings.database_url) as session:
        events = session.scalars(select(RunEventRow.data).where(RunEventRow.run_id == run_id)).all()
    return [data for data in events if data.get("requeued")]


@pytest.mark.timeout(400)
def test_with_no_worker_alive_the_api_requeues_a_stranded_run_once_and_a_later_worker_resumes_it(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = served_settings(data_dir)
    with (
        serving(data_dir, env=SHORT_LEASES, args=("--workers", "2")) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        task = setup_task(client)  # the helpers take any httpx client (TestClient is one)
        first = Worker(settings, tmp_path / "first.log", env=SHORT_LEASES)
        try:
            run = post_run(client, task, tiny_model_dir, "finetune", {"name": "full"}, options={"steps": 600})
            wait_for(client, run["id"], first, until=lambda r: r["progress"].get("step", 0) >= EVERY + EVERY // 2)
            first.kill()
        finally:
            first.stop()
        killed_step = int(client.get(f"/v1/runs/{run['id']}").json()["progress"]["step"])
        checkpointed = checkpoint_step(settings, run["id"])
        assert checkpointed >= EVERY

        # Queued again within two leases; once the dead worker's heartbeat is stale, it says none is live.
        waiting = wait_for(
            client,
            run["id"],
            first,
            until=lambda r: r["status"] == "queued" and (r["waiting_for"] or {}).get("live_workers") == 0,
            timeout_s=90,
        )
        assert (
            waiting["attempts"] == 1 and "no live worker consumes the 'gpu' queue" in waiting["waiting_for"]["message"]
        )
        requeues = requeued_events(settings, run["id"])  # the stream ends only with the run: read the table
        assert len(requeues) == 1 and "ran out" in str(requeues[0]["requeued"])

        second = Worker(settings, tmp_path / "second.log", env=SHORT_LEASES)
        try:
            wait_for(client, run["id"], second, until=lambda r: r["status"] not in {"queued", "running"}, timeout_s=240)
        finally:
            second.stop()
        done = assert_resumed_once(client, run["id"], checkpointed=checkpointed, killed_at=killed_step)
        assert done["result"]["steps"] == 600
        events = events_of(client, run["id"])
        assert not any(data.get("refused_delivery") for _, data in events)  # one message: no second delivery
        assert [data.get("requeued") for _, data in events if data.get("requeued")] == [requeues[0]["requeued"]]
    # Exactly one of the two API processes enqueued it (the later worker found it already queued).
    assert server.log.read_text(errors="replace").count(f"run {run['id']} re-queued on gpu") == 1
    assert f"run {run['id']} re-queued" not in second.tail()
