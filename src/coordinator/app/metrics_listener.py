"""The metrics listener: ``GET /metrics`` in Prometheus' text format, nothing else.

It is unauthenticated, so it binds 127.0.0.1 by default (``[metrics]``); the chart does not
expose it through the service. Every name is prefixed ``coordinator_``:

* ``competitions{state}``, ``payouts{status}``: counted in the competitions database, at most
  every ``[metrics] refresh_secs`` (0: on every scrape);
* ``external_call_seconds{service}`` (histogram) and ``external_call_errors_total{service,
  kind}`` for the chain, Lightning, oracle and signer clients, from the call observers of
  :mod:`coordinator_core.observed_calls`;
* ``db_write_queue_depth{database}``: writes waiting for each database's writer;
* ``backup_lag_seconds{database}``, ``backup_replicator_up``, ``backup_replicator_restarts_total``;
* every lifecycle counter and timer of :mod:`coordinator.app.metrics` (``payouts_total{status}``,
  ``processor_tick_seconds``, step failures …).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from coordinator import __version__
from coordinator.app import metrics
from coordinator.app.runtime import Runtime
from coordinator.config import Settings
from coordinator.domain.competitions.states import State
from coordinator_core.observed_calls import CallRecord, add_observer

PREFIX = "coordinator_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Process-wide: every client in the process reports here, whichever runtime built it.
CALLS = CollectorRegistry(auto_describe=True)
EXTERNAL_CALL_SECONDS = Histogram(
    PREFIX + "external_call_seconds",
    "Latency of calls to external services",
    ["service"],
    registry=CALLS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EXTERNAL_CALL_ERRORS = PromCounter(
    PREFIX + "external_call_errors",
    "Failed calls to external services (transport failure, 5xx answer, exception)",
    ["service", "kind"],
    registry=CALLS,
)


def _observe(record: CallRecord) -> None:
    EXTERNAL_CALL_SECONDS.labels(record.service).observe(record.seconds)
    if record.error is not None:
        EXTERNAL_CALL_ERRORS.labels(record.service, record.error).inc()


add_observer(_observe)


class DatabaseCounts:
    """Competition and payout counts, read from the database at most every ``max_age``."""

    def __init__(self, runtime: Runtime, max_age_secs: float) -> None:
        self._runtime = runtime
        self._max_age = max_age_secs
        self._read_at: float | None = None
        self._lock = asyncio.Lock()
        self.states: dict[str, int] = {}
        self.payouts: dict[str, int] = {}

    async def refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self._max_age:
                return
            services = self._runtime.competitions
            if services is not None:
                store = services.lc.store
                self.states = {s.value: n for s, n in (await store.state_counts()).items()}
                self.payouts = dict(await store.payout_counts())
            self._read_at = now


class RuntimeCollector(Collector):
    """Gauges read from the runtime and the lifecycle's counters, at scrape time."""

    def __init__(self, runtime: Runtime, counts: DatabaseCounts) -> None:
        self._runtime = runtime
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(PREFIX + "build_info", "Coordinator version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        competitions = GaugeMetricFamily(
            PREFIX + "competitions", "Competitions by state", labels=["state"]
        )
        for state in State:
            competitions.add_metric([state.value], self._counts.states.get(state.value, 0))
        yield competitions
        payouts = GaugeMetricFamily(
            PREFIX + "payouts", "Lightning payouts by status", labels=["status"]
        )
        for status in ("pending", "succeeded", "failed"):
            payouts.add_metric([status], self._counts.payouts.get(status, 0))
        yield payouts
        depth = GaugeMetricFamily(
            PREFIX + "db_write_queue_depth", "Writes queued for a database", labels=["database"]
        )
        for name, db in self._runtime.databases.items():
            depth.add_metric([name], db.queue_depth)
        yield depth
        yield from self._backup()
        yield from self._lifecycle()

    def _backup(self) -> Iterator[Metric]:
        backups = self._runtime.backups
        if backups is None:
            return
        up = GaugeMetricFamily(
            PREFIX + "backup_replicator_up", "1 while the backup replicator runs and answers"
        )
        up.add_metric([], 1 if backups.replicator.alive else 0)
        yield up
        restarts = CounterMetricFamily(
            PREFIX + "backup_replicator_restarts", "Times the backup replicator was restarted"
        )
        restarts.add_metric([], backups.replicator.restarts)
        yield restarts
        lag = GaugeMetricFamily(
            PREFIX + "backup_lag_seconds",
            "Age of the oldest change not yet in the replica",
            labels=["database"],
        )
        for name, secs in backups.monitor.lag_secs().items():
            lag.add_metric([name], secs)
        yield lag

    def _lifecycle(self) -> Iterator[Metric]:
        for counter in metrics.snapshot().values():
            names = sorted({key for labels in counter.values for key, _ in labels})
            family = CounterMetricFamily(PREFIX + counter.name, counter.help, labels=names)
            for labels, value in list(counter.values.items()):
                as_dict = dict(labels)
                family.add_metric([as_dict.get(n, "") for n in names], value)
            yield family
        for timer in metrics.timers().values():
            summary = SummaryMetricFamily(PREFIX + timer.name, timer.help)
            summary.add_metric([], count_value=timer.count, sum_value=timer.total_secs)
            yield summary


class _Calls(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from CALLS.collect()


def create_metrics_app(settings: Settings, runtime: Runtime) -> FastAPI:
    """The metrics listener's app over ``runtime``."""
    counts = DatabaseCounts(runtime, settings.metrics.refresh_secs)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime, counts))
    registry.register(_Calls())
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime

    @app.get("/metrics")
    async def scrape() -> Response:
        await counts.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return app
