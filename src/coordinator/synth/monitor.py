"""The monitor's metrics and status page (``coordinator synth serve``).

``GET /`` a small status page (the last run and its steps, the last runs); ``GET /api/status``,
``GET /api/history``; ``POST /api/run`` starts a run (one at a time; refused from another
site's page: its ``Origin`` must be this host); ``GET /metrics``:
``synth_scenario_runs_total{scenario,status}``, ``synth_scenario_duration_seconds``,
``synth_step_duration_seconds{step}`` (the last run's), ``synth_last_successful_run_timestamp``,
``synth_competition_lifecycle_healthy`` (1 when the last run passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coordinator.synth.scenario import SCENARIO, RunResult
from coordinator.synth.store import SynthStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SynthCollector(Collector):
    def __init__(self, store: SynthStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "synth_scenario_runs", "Scenario runs by result", labels=["scenario", "status"]
        )
        for scenario, status, count in self.store.counts():
            if status != "running":  # a counter of finished runs: it never goes down
                total.add_metric([scenario, status], count)
        yield total
        last = self.store.last_run(finished=True)
        duration = GaugeMetricFamily("synth_scenario_duration_seconds", "The last run's duration")
        healthy = GaugeMetricFamily(
            "synth_competition_lifecycle_healthy", "1 when the last run completed the lifecycle"
        )
        steps = GaugeMetricFamily(
            "synth_step_duration_seconds", "The last run's step durations", labels=["step"]
        )
        if last is not None:
            duration.add_metric([], last["finished_at"] - last["started_at"])
            healthy.add_metric([], 1 if last["status"] == "passed" else 0)
            for step in self.store.steps(last["id"]):
                steps.add_metric([step.name], step.seconds)
        yield duration
        yield healthy
        yield steps
        passed = self.store.last_run(finished=True, status="passed")
        stamp = GaugeMetricFamily(
            "synth_last_successful_run_timestamp", "Unix time the last passing run finished"
        )
        stamp.add_metric([], passed["finished_at"] if passed else 0)
        yield stamp


def _page(store: SynthStore) -> str:
    runs = store.runs(10)
    rows = "".join(
        f"<tr><td>{r['id']}</td><td>{html.escape(r['status'])}</td>"
        f"<td>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r['started_at']))}</td>"
        f"<td>{(r['finished_at'] or time.time()) - r['started_at']:.1f}s</td>"
        f"<td>{html.escape(r['competition_id'] or '')}</td>"
        f"<td>{html.escape(r['error'] or '')}</td></tr>"
        for r in runs
    )
    steps = ""
    if runs:
        steps = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{s.seconds:.2f}s</td>"
            f"<td>{'ok' if s.ok else html.escape(s.detail or 'failed')}</td></tr>"
            for s in store.steps(runs[0]["id"])
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Synthetic monitor</title>"
        "</head><body><h1>Synthetic monitor</h1><h2>Last run's steps</h2>"
        f"<table><tr><th>step</th><th>time</th><th>result</th></tr>{steps}</table>"
        "<h2>Last runs</h2><table><tr><th>run</th><th>status</th><th>started (UTC)</th>"
        f"<th>duration</th><th>competition</th><th>error</th></tr>{rows}</table>"
        "<form method='post' action='/api/run'><button>Run full lifecycle</button></form>"
        "</body></html>"
    )


def create_monitor_app(
    store: SynthStore, run: Callable[[], Any], every_secs: float = 0.0
) -> FastAPI:
    """The status page, API and metrics; ``run()`` returns a coroutine of one run. With
    ``every_secs`` > 0 a run starts at start-up and again that long after each one ends."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SynthCollector(store))
    running: list[asyncio.Task[RunResult]] = []

    async def scheduled() -> None:
        while True:
            if not _busy():
                running[:] = [asyncio.create_task(run())]
            with contextlib.suppress(Exception):
                await running[0]
            await asyncio.sleep(every_secs)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.close_interrupted()
        scheduler = asyncio.create_task(scheduled()) if every_secs > 0 else None
        try:
            yield
        finally:
            for task in [*running, *([scheduler] if scheduler else [])]:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return _page(store)

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        runs = store.runs(1)
        return {"last_result": runs[0] if runs else None, "running": _busy()}

    @app.get("/api/history")
    async def history(limit: int = 20) -> dict[str, Any]:
        return {"runs": store.runs(max(1, min(limit, 100)))}

    @app.post("/api/run")
    async def start(request: Request) -> JSONResponse:
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            # Another site's page cannot start runs through the operator's browser.
            return JSONResponse({"status": "forbidden origin"}, status_code=403)
        if _busy():
            return JSONResponse({"status": "busy"}, status_code=409)
        running[:] = [asyncio.create_task(run())]
        return JSONResponse({"status": "started", "scenario": SCENARIO}, status_code=202)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    def _busy() -> bool:
        return bool(running) and not running[0].done()

    return app
