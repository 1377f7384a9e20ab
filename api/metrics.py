"""Prometheus metrics. Search counts, queue depth and epoch durations are read from the store at
scrape time (so every API replica reports the same truth, and the worker needs no metrics port);
request latency is observed here, labelled by route template so ids do not explode the labels."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.db import UNAVAILABLE_ERRORS, Database
from store.repositories import results, searches

log = logging.getLogger(__name__)
EPOCH_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class StoreCollector(Collector):
    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        try:
            with self.database.sessionmaker() as session:
                counts = searches.count_by_status(session)
                depth = searches.queue_depth(session)
                buckets, count, total = results.epoch_duration_histogram(session, EPOCH_BUCKETS)
        except UNAVAILABLE_ERRORS as err:
            # A scrape while the database is down still reports the process's own metrics.
            log.warning("metrics: store unavailable, store metrics skipped: %s", err)
            return
        by_state = GaugeMetricFamily("flatnas_searches", "Searches by state", labels=["state"])
        for state, n in counts.items():
            by_state.add_metric([state], n)
        yield by_state
        yield GaugeMetricFamily(
            "flatnas_queue_depth", "Searches waiting for a worker (queued or retrying)", value=depth
        )
        histogram = HistogramMetricFamily("flatnas_epoch_duration_seconds", "Wall time of one search epoch")
        histogram.add_metric(
            [],
            [(str(float(b)), n) for b, n in zip(EPOCH_BUCKETS, buckets, strict=True)] + [("+Inf", count)],
            total,
        )
        yield histogram


def build_registry(database: Database) -> tuple[CollectorRegistry, Histogram]:
    """A registry per app (tests build many apps; the global registry would refuse duplicates)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(database))
    latency = Histogram(
        "flatnas_http_request_duration_seconds",
        "API request latency",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    return registry, latency


class LatencyMiddleware:
    """Observes each HTTP request's duration until its response starts (streams are not timed
    to their end: an event stream lasting an hour is not a slow request)."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        observed = False

        async def timed_send(message: Message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                self._observe(scope, message["status"], start)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception:
            if not observed:
                self._observe(scope, 500, start)
            raise

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
        self.histogram.labels(scope["method"], template, str(status)).observe(time.perf_counter() - start)
