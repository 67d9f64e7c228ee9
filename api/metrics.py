"""Prometheus metrics on ``GET /metrics``: request latency counted as requests pass, and the state of
runs, queues, workers and forecasts read from the database at each scrape.

Request latency is a histogram per route *template* (``/v1/runs/{run_id}``, never a run's id), method
and status class. Everything else is computed when Prometheus scrapes, from a handful of aggregate
queries in one short session, so it is the same whichever API process answers and needs no bookkeeping
on the paths that change runs. A scrape while the database is down still answers: the request metrics
and ``tunecast_database_up 0``.

Under ``tunecast serve --workers N`` each process counts its own requests; ``serve`` gives them one
directory (:func:`prepare_multiprocess_dir`) where prometheus_client's multiprocess mode keeps each
process's samples, and every scrape sums them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Histogram,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.calibration import summarize
from api.worker_status import QUEUES
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import measurements as measurements_repo
from storage.repositories import runs as runs_repo
from storage.repositories import workers as workers_repo
from storage.settings import Settings, export_for_child_processes

__all__ = [
    "REQUEST_BUCKETS_S",
    "RUN_BUCKETS_S",
    "DatabaseCollector",
    "RequestMetricsMiddleware",
    "install_metrics",
    "multiprocess_mode",
    "prepare_multiprocess_dir",
]

logger = logging.getLogger("tunecast.api.metrics")

REQUEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RUN_BUCKETS_S = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0)
UNMATCHED = "unmatched"  # requests no route matched (404s, trailing-slash redirects) or refused before routing (413)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RUN_STATUSES = (runs_repo.QUEUED, runs_repo.RUNNING, runs_repo.SUCCEEDED, runs_repo.FAILED, runs_repo.CANCELLED)


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps this process's samples in files for others to sum: it decides when
    it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``."""
    return values.ValueClass is not values.MutexValue


def prepare_multiprocess_dir(directory: Path) -> Path:
    """Make ``directory`` the (emptied) home of every API process's sample files and name it in the
    environment ``tunecast serve --workers N`` hands its processes. Emptied because an earlier run's
    files would add that run's requests to this one's."""
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    export_for_child_processes("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


def _route_templates(routes: Iterable[Any]) -> dict[int, str]:
    """The full path template of every route, by the id of the object a matched request's scope holds:
    the route itself (``scope["route"]``), or a mounted app (``scope["endpoint"]``). Routers included
    with a prefix keep their routes under router-local paths; their effective contexts carry the full one."""
    templates: dict[int, str] = {}
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            for context in contexts():
                original = getattr(context, "original_route", None)
                template = getattr(context, "path_format", None)
                if original is not None and template:
                    templates[id(original)] = str(template)
                starlette_route = getattr(context, "starlette_route", None)
                if starlette_route is not None:
                    templates.update(_route_templates([starlette_route]))
            continue
        template = getattr(route, "path_format", None)
        if template:
            templates[id(route)] = str(template)
            # Starlette's own routes and mounts leave only their endpoint (a mount's: its app) in the scope.
            reached = getattr(route, "app", None) if hasattr(route, "routes") else getattr(route, "endpoint", None)
            if reached is not None:
                templates.setdefault(id(reached), str(template))
    return templates


class RequestMetricsMiddleware:
    """Times every HTTP request into ``histogram`` (route template, method, status class), in pure ASGI so
    streamed responses pass through untouched. The time is until the response's headers are sent: for an
    ordinary response that is all of its handling (the body is rendered first); for an event stream, the
    time to open it, which its open hours would otherwise swamp."""

    def __init__(self, app: ASGIApp, *, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram
        self._templates: dict[int, str] | None = None

    def _template(self, scope: Scope) -> str:
        route, endpoint = scope.get("route"), scope.get("endpoint")
        if route is None and endpoint is None:
            return UNMATCHED
        if self._templates is None:  # the first request: every route is in place by then
            self._templates = _route_templates(getattr(scope.get("app"), "routes", ()))
        for matched in (route, endpoint):
            if matched is not None and id(matched) in self._templates:
                return self._templates[id(matched)]
        # A route the walk could not place keeps its own (router-local) template: never the raw path.
        template = str(getattr(route, "path_format", None) or UNMATCHED)
        self._templates[id(route if route is not None else endpoint)] = template
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_s = time.perf_counter()
        answered: list[tuple[int, float]] = []
        observed = False

        def observe() -> None:
            nonlocal observed
            observed = True
            status, elapsed_s = answered[0] if answered else (500, time.perf_counter() - started_s)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.histogram.labels(self._template(scope), method, f"{status // 100}xx").observe(elapsed_s)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not answered:
                answered.append((int(message["status"]), time.perf_counter() - started_s))
            elif message["type"] == "http.response.body" and not message.get("more_body") and not observed:
                observe()  # before the last bytes leave: a scrape the client sends next counts this request
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not observed:
                observe()


class DatabaseCollector(Collector):
    """The gauges read from the database at scrape time, in one short session; only
    ``tunecast_database_up 0`` when it cannot be read."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tunecast_database_up", "1 when the database answered this scrape's queries, else 0.")
        try:
            with session_scope(self.database_url) as session:
                families = [*_run_families(session), *_worker_families(session), *_forecast_families(session)]
        except SQLAlchemyError as exc:
            logger.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families


def _run_families(session: Session) -> list[Metric]:
    counts = runs_repo.count_runs(session=session)
    queues = sorted({*QUEUES, *(queue for _, queue in counts)})
    depth = GaugeMetricFamily(
        "tunecast_queue_depth", "Runs waiting in each queue (status queued in the database).", labels=["queue"]
    )
    for queue in queues:
        depth.add_metric([queue], counts.get((runs_repo.QUEUED, queue), 0))
    by_status = GaugeMetricFamily("tunecast_runs", "Runs stored, by current status.", labels=["status"])
    for status in sorted({*RUN_STATUSES, *(status for status, _ in counts)}):
        by_status.add_metric([status], sum(n for (s, _), n in counts.items() if s == status))

    finished = CounterMetricFamily(
        "tunecast_runs_finished",
        "Runs that reached a final status, by kind and status (counted from the stored runs; they are never deleted).",
        labels=["kind", "status"],
    )
    durations = HistogramMetricFamily(
        "tunecast_run_duration_seconds",
        "Start to finish of finished runs that started, by kind and final status (from the stored runs' timestamps).",
        labels=["kind", "status"],
    )
    for group in runs_repo.finished_runs(session=session, bounds_s=RUN_BUCKETS_S):
        finished.add_metric([group.kind, group.status], group.n_runs)
        buckets = [(_bound(b), n) for b, n in zip(RUN_BUCKETS_S, group.n_timed_within, strict=True)]
        durations.add_metric(
            [group.kind, group.status], [*buckets, ("+Inf", group.n_timed)], sum_value=group.duration_sum_s
        )
    return [depth, by_status, finished, durations]


def _bound(bound_s: float) -> str:
    return repr(float(bound_s))


def _worker_families(session: Session) -> list[Metric]:
    now = utcnow()
    rows = workers_repo.list_workers(session=session)
    live = GaugeMetricFamily("tunecast_workers_live", "Live workers consuming each queue.", labels=["queue"])
    per_queue: dict[str, int] = defaultdict(int)
    for row in rows:
        if workers_repo.is_live(row, now=now):
            for queue in row.queues or []:
                per_queue[str(queue)] += 1
    for queue in sorted({*QUEUES, *per_queue}):
        live.add_metric([queue], per_queue.get(queue, 0))
    silence = GaugeMetricFamily(
        "tunecast_worker_heartbeat_age_seconds",
        "Seconds since each worker that has not said it stopped last sent a heartbeat "
        f"(live below {workers_repo.LIVE_TIMEOUT_S:.0f} s).",
        labels=["worker"],
    )
    for row in rows:
        if row.status == "online":
            heard = row.last_heartbeat_at
            heard = heard if heard.tzinfo else heard.replace(tzinfo=UTC)  # SQLite hands back naive UTC
            silence.add_metric([row.name], max(0.0, (now - heard).total_seconds()))
    return [live, silence]


def _forecast_families(session: Session) -> list[Metric]:
    """Forecast error by tier, as ``GET /v1/calibration`` computes it. Reads every verified (prediction,
    measurement) pair: one per real run that checked a prediction and one per imported result, the one read
    that grows with history."""
    by_tier: dict[str, list[measurements_repo.CalibrationPair]] = defaultdict(list)
    for pair in measurements_repo.calibration_pairs(session=session):
        by_tier[pair.prediction.tier].append(pair)
    verified = GaugeMetricFamily(
        "tunecast_forecast_verified",
        "Predictions whose accuracy a run or an imported result measured, by forecast tier.",
        labels=["tier"],
    )
    mae = GaugeMetricFamily(
        "tunecast_forecast_accuracy_mae",
        "Mean absolute error of predicted against measured accuracy (a fraction), by forecast tier.",
        labels=["tier"],
    )
    bias = GaugeMetricFamily(
        "tunecast_forecast_accuracy_bias",
        "Mean of predicted minus measured accuracy (a fraction; above 0 over-promises), by forecast tier.",
        labels=["tier"],
    )
    coverage = GaugeMetricFamily(
        "tunecast_forecast_interval_coverage_ratio",
        "Share of measured accuracies inside the predicted 90 % interval, by forecast tier.",
        labels=["tier"],
    )
    for tier, pairs in sorted(by_tier.items()):
        summary = summarize(pairs)["overall"]
        verified.add_metric([tier], summary["n_accuracy"])
        for family, key in ((mae, "accuracy_mae"), (bias, "accuracy_bias"), (coverage, "interval_coverage")):
            if summary[key] is not None:
                family.add_metric([tier], summary[key])
    return [verified, mae, bias, coverage]


def _scrape_registry(app_registry: CollectorRegistry, database: DatabaseCollector) -> CollectorRegistry:
    """What one scrape exposes: in multiprocess mode every process's request samples, summed from their
    files (and none of this process's own collectors, which would count it alone), then the database."""
    if not multiprocess_mode():
        return app_registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
    registry.register(database)
    return registry


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Time every request of ``app`` and serve ``GET /metrics`` (outside the OpenAPI schema, needing
    nothing). Each app has its own registry, so apps built side by side (tests) count apart."""
    registry = CollectorRegistry()
    if not multiprocess_mode():
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    histogram = Histogram(
        "tunecast_http_request_duration_seconds",
        "Seconds from a request's arrival to its response headers, by route template, method and status class.",
        ["route", "method", "status_class"],
        registry=registry,
        buckets=REQUEST_BUCKETS_S,
    )
    database = DatabaseCollector(settings.database_url)
    if not multiprocess_mode():
        registry.register(database)
    app.add_middleware(RequestMetricsMiddleware, histogram=histogram)

    def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(_scrape_registry(registry, database)), headers={"Content-Type": content_type})

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
