"""GET /metrics: request latency by route template, and runs, queues, workers and forecast error read from
the database at scrape time; a scrape with the database down; several API processes summed."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from api.app import create_app
from storage.db import session_scope
from storage.models import PredictionRow, RunRow, WorkerRow, utcnow
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.settings import Settings
from tests.api.test_workers import register
from tests.factories import embedded_settings
from tests.processes import serving, wait_for

LATENCY = "tunecast_http_request_duration_seconds"


def scrape(client: TestClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample named ``name`` whose labels include ``labels``."""
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return float(found[0])


def test_request_latency_is_counted_by_route_template_method_and_status_class(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/v1/runs/4f2a0c").status_code == 404
    assert client.get("/v1/runs/9b17de").status_code == 404
    assert client.get("/v1/models/llama-3.1-8b").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    samples = scrape(client)

    assert value(samples, f"{LATENCY}_count", route="/healthz", method="GET", status_class="2xx") == 3
    assert value(samples, f"{LATENCY}_bucket", route="/healthz", method="GET", status_class="2xx", le="+Inf") == 3
    assert value(samples, f"{LATENCY}_count", route="/v1/runs/{run_id}", method="GET", status_class="4xx") == 2
    assert value(samples, f"{LATENCY}_count", route="/v1/models/{model_id}", method="GET", status_class="2xx") == 1
    assert value(samples, f"{LATENCY}_count", route="unmatched", method="GET", status_class="4xx") == 1
    assert value(samples, f"{LATENCY}_sum", route="/v1/models/{model_id}", method="GET", status_class="2xx") > 0
    routes = {s.labels["route"] for s in samples if s.name == f"{LATENCY}_count"}
    assert routes == {"/healthz", "/v1/runs/{run_id}", "/v1/models/{model_id}", "unmatched"}  # no raw ids
    # the scrape itself is counted once it has answered
    assert value(scrape(client), f"{LATENCY}_count", route="/metrics", method="GET", status_class="2xx") == 1


def test_metrics_is_not_an_api_operation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths and "/v1/metrics" not in paths
    assert "/healthz" in paths
    # Starlette's own routes (the schema) and mounts are named by their templates too
    assert client.get("/static/no-such-file.css").status_code == 404
    samples = scrape(client)
    assert value(samples, f"{LATENCY}_count", route="/openapi.json", method="GET", status_class="2xx") == 1
    assert value(samples, f"{LATENCY}_count", route="/static/{path}", method="GET", status_class="4xx") == 1


def _run(session: Any, queue: str, kind: str = "finetune") -> str:
    values = {"kind": kind, "queue": queue, "candidate": {"model": "m", "method": {"name": "lora", "rank": 4}}}
    row, created = runs_repo.create_run(session=session, values=values, idempotency_key=None)
    assert created
    return row.id


def test_queue_depth_runs_by_status_and_finished_durations_come_from_the_database(
    client: TestClient, settings: Settings
) -> None:
    samples = scrape(client)
    assert value(samples, "tunecast_database_up") == 1
    assert value(samples, "tunecast_queue_depth", queue="gpu") == 0
    assert value(samples, "tunecast_runs", status="queued") == 0

    with session_scope(settings.database_url) as session:
        gpu = [_run(session, "gpu") for _ in range(4)]
        _run(session, "cpu", kind="probe")
        # one runs, one succeeds after 90 s, one is cancelled while queued, one stays queued
        for run_id in gpu[:2]:
            assert (
                runs_repo.begin_delivery(session=session, run_id=run_id, worker="w@box", max_deliveries=3)[0] == "run"
            )
        runs_repo.finish_run(session=session, run_id=gpu[1], status=runs_repo.SUCCEEDED, result={})
        runs_repo.request_cancel(session=session, run_id=gpu[2])
        finished = session.get(RunRow, gpu[1])
        assert finished is not None and finished.finished_at is not None
        finished.started_at = finished.finished_at - timedelta(seconds=90)
        session.commit()

    samples = scrape(client)
    assert value(samples, "tunecast_queue_depth", queue="gpu") == 1
    assert value(samples, "tunecast_queue_depth", queue="cpu") == 1
    assert {
        status: value(samples, "tunecast_runs", status=status) for status in runs_repo.TERMINAL | {"queued", "running"}
    } == {
        "queued": 2,
        "running": 1,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 1,
    }
    assert value(samples, "tunecast_runs_finished_total", kind="finetune", status="succeeded") == 1
    assert value(samples, "tunecast_runs_finished_total", kind="finetune", status="cancelled") == 1
    assert not [s for s in samples if s.name == "tunecast_runs_finished_total" and s.labels["kind"] == "probe"]
    succeeded = {"kind": "finetune", "status": "succeeded"}
    assert value(samples, "tunecast_run_duration_seconds_count", **succeeded) == 1
    assert value(samples, "tunecast_run_duration_seconds_sum", **succeeded) == pytest.approx(90, abs=0.05)
    assert value(samples, "tunecast_run_duration_seconds_bucket", le="60.0", **succeeded) == 0
    assert value(samples, "tunecast_run_duration_seconds_bucket", le="300.0", **succeeded) == 1
    # cancelled before it started: finished, but with no duration
    assert value(samples, "tunecast_run_duration_seconds_count", kind="finetune", status="cancelled") == 0


def test_registered_workers_appear_with_their_heartbeat_age(client: TestClient, settings: Settings) -> None:
    register(settings, "tunecast-gpu@a", queues=["gpu"])
    register(settings, "tunecast-cpu-gpu@b", queues=["cpu", "gpu"])
    register(settings, "tunecast-cpu@silent", queues=["cpu"])
    register(settings, "tunecast-cpu@gone", queues=["cpu"])
    with session_scope(settings.database_url) as session:
        silent = session.get(WorkerRow, "tunecast-cpu@silent")
        assert silent is not None
        silent.last_heartbeat_at = utcnow() - timedelta(minutes=5)
        session.commit()
        workers_repo.mark_stopped(session=session, name="tunecast-cpu@gone", boot_id="b1", detail="SIGTERM")

    samples = scrape(client)
    assert value(samples, "tunecast_workers_live", queue="gpu") == 2
    assert value(samples, "tunecast_workers_live", queue="cpu") == 1
    ages = {s.labels["worker"]: s.value for s in samples if s.name == "tunecast_worker_heartbeat_age_seconds"}
    assert set(ages) == {"tunecast-gpu@a", "tunecast-cpu-gpu@b", "tunecast-cpu@silent"}  # not the stopped one
    assert ages["tunecast-gpu@a"] < 30 and ages["tunecast-cpu-gpu@b"] < 30
    assert 299 <= ages["tunecast-cpu@silent"] < 400


def _verified(settings: Settings, tier: str, predicted: tuple[float, float, float], measured: float) -> None:
    mean, lower, upper = predicted
    with session_scope(settings.database_url) as session:
        prediction = PredictionRow(
            candidate_key=f"k-{mean}",
            candidate={},
            tier=tier,
            predictor="test",
            accuracy_mean=mean,
            accuracy_lower=lower,
            accuracy_upper=upper,
            cost={},
        )
        session.add(prediction)
        session.commit()
        row, _ = runs_repo.create_run(
            session=session,
            values={"kind": "finetune", "queue": "gpu", "candidate": {}, "prediction_id": prediction.id},
            idempotency_key=None,
        )
        runs_repo.begin_delivery(session=session, run_id=row.id, worker="w@box", max_deliveries=3)
        measurement = {"task": "t", "model_id": "m", "method_name": "lora", "candidate": {}, "accuracy": measured}
        runs_repo.finish_run(
            session=session, run_id=row.id, status=runs_repo.SUCCEEDED, result={}, measurement=measurement
        )


def test_forecast_error_by_tier_is_what_runs_measured(client: TestClient, settings: Settings) -> None:
    assert not [s for s in scrape(client) if s.name.startswith("tunecast_forecast_")]
    _verified(settings, "prior", (0.70, 0.60, 0.80), 0.60)  # +0.10, inside its interval
    _verified(settings, "prior", (0.50, 0.45, 0.55), 0.80)  # -0.30, outside
    _verified(settings, "probe", (0.90, 0.85, 0.95), 0.88)  # +0.02, inside

    samples = scrape(client)
    assert value(samples, "tunecast_forecast_verified", tier="prior") == 2
    assert value(samples, "tunecast_forecast_accuracy_mae", tier="prior") == pytest.approx(0.20)
    assert value(samples, "tunecast_forecast_accuracy_bias", tier="prior") == pytest.approx(-0.10)
    assert value(samples, "tunecast_forecast_interval_coverage_ratio", tier="prior") == pytest.approx(0.5)
    assert value(samples, "tunecast_forecast_verified", tier="probe") == 1
    assert value(samples, "tunecast_forecast_accuracy_mae", tier="probe") == pytest.approx(0.02)
    assert value(samples, "tunecast_forecast_interval_coverage_ratio", tier="probe") == pytest.approx(1.0)
    assert not [s for s in samples if s.name == "tunecast_forecast_verified" and s.labels["tier"] == "measured"]
    # the same numbers GET /v1/calibration reports over all of them
    overall = client.get("/v1/calibration").json()["overall"]
    assert overall["n_accuracy"] == 3 and overall["accuracy_mae"] == pytest.approx((0.10 + 0.30 + 0.02) / 3)


@pytest.fixture
def unreachable_database_client(tmp_path: Path) -> Iterator[TestClient]:
    """The app on a database URL nothing answers (a closed port), not migrated."""
    settings = embedded_settings(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, prepare=False), raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_scrape_with_the_database_down_still_answers(unreachable_database_client: TestClient) -> None:
    client = unreachable_database_client
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    samples = scrape(client)
    assert value(samples, "tunecast_database_up") == 0
    assert value(samples, f"{LATENCY}_count", route="/healthz", method="GET", status_class="2xx") == 1
    assert value(samples, f"{LATENCY}_count", route="/readyz", method="GET", status_class="5xx") == 1
    assert not [s for s in samples if s.name.startswith(("tunecast_runs", "tunecast_queue", "tunecast_workers"))]


def _served_requests(samples: list[Sample]) -> float:
    return value(samples, f"{LATENCY}_count", route="/v1/methods/{name}", method="GET", status_class="2xx")


def _scrape_url(url: str) -> list[Sample]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


@pytest.mark.slow
def test_several_api_processes_report_the_sum_of_their_requests(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    sent = 0
    with serving(tmp_path, args=("--workers", "2")) as server:

        def get(_: int) -> int:
            # a new connection each time: a kept-alive one stays with the process that accepted it
            return httpx.get(f"{server.url}/v1/methods/lora", headers={"Connection": "close"}, timeout=10).status_code

        # until both processes have served some (each writes its own sample files, named by its pid)
        def both_served() -> bool:
            nonlocal sent
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                assert set(pool.map(get, range(24))) == {200}
            sent += 24
            return len({path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("histogram_*.db")}) >= 2

        wait_for(both_served, 60, "both API processes serving requests", server.log)
        # whichever process answers a scrape reports every process's requests
        for _ in range(8):
            assert _served_requests(_scrape_url(server.url)) == sent
        assert value(_scrape_url(server.url), "tunecast_database_up") == 1

    # a new `serve` starts from zero: the earlier run's files are gone
    with serving(tmp_path, args=("--workers", "2")) as server:
        for _ in range(3):
            assert httpx.get(f"{server.url}/v1/methods/lora", timeout=10).status_code == 200
        for _ in range(4):
            assert _served_requests(_scrape_url(server.url)) == 3
