"""The health verdict: cheap for every probe, with the costly integrity check on a timer.

``PRAGMA quick_check`` reads every page of a database, so it must not run per request (a load
balancer's probes would slow the service down). :class:`IntegrityMonitor` runs it at start and
then every ``[db] integrity_check_interval_secs`` in a background task; a probe only reads the
cached verdicts, the liveness of the background tasks and of each database writer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from coordinator.app.composition import Store
from coordinator.app.tasks import BackgroundTasks, run_periodically
from coordinator_core.observed_calls import CallRecord, add_observer

INTEGRITY_TASK = "integrity_check"
#: Missed refreshes after which the cached verdict no longer counts as current.
STALE_AFTER_INTERVALS = 3


class IntegrityMonitor:
    """The last ``quick_check`` verdict of every database."""

    def __init__(
        self,
        databases: Mapping[str, Store],
        interval_secs: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._databases = databases
        self._interval = interval_secs
        self._clock = clock
        self._intact: dict[str, bool] = {}
        self._checked_at: float | None = None
        self.checked_at_unix: float | None = None
        """Wall-clock time of the last completed check (reported by the health route)."""

    async def refresh(self) -> None:
        """Run ``quick_check`` on every database whose writer is running (one at a time)."""
        for name, db in self._databases.items():
            if db.writer_alive:
                self._intact[name] = await db.quick_check()
        self._checked_at = self._clock()
        self.checked_at_unix = time.time()

    def start(self, tasks: BackgroundTasks) -> None:
        """Refresh every interval from now on (call :meth:`refresh` once before)."""

        async def loop() -> None:
            await asyncio.sleep(self._interval)
            await run_periodically(INTEGRITY_TASK, self._interval, self.refresh)

        tasks.start(INTEGRITY_TASK, loop)

    def problems(self) -> list[str]:
        """Databases whose last check failed, and a check that is overdue."""
        problems = [
            f"database {name}: quick_check failed"
            for name, intact in self._intact.items()
            if not intact
        ]
        if self._checked_at is None:
            problems.append("integrity check has not run yet")
        elif self._clock() - self._checked_at > STALE_AFTER_INTERVALS * self._interval:
            problems.append("integrity check is overdue")
        return problems


def health_problems(
    tasks: BackgroundTasks, databases: Mapping[str, Store], integrity: IntegrityMonitor
) -> list[str]:
    """Reasons the service is unhealthy (empty when healthy), without any I/O."""
    problems = [f"background task {name} is not running" for name in tasks.dead()]
    problems += [
        f"database {name}: writer is not running"
        for name, db in databases.items()
        if not db.writer_alive
    ]
    return problems + integrity.problems()


#: Consecutive failed calls after which a service counts as unreachable for readiness.
UNREACHABLE_AFTER_FAILURES = 3


class DependencyTracker:
    """Consecutive failed calls per external service (fed by the call observers)."""

    def __init__(self, threshold: int = UNREACHABLE_AFTER_FAILURES) -> None:
        self.threshold = threshold
        self.failures: dict[str, int] = {}

    def __call__(self, record: CallRecord) -> None:
        self.failures[record.service] = (
            self.failures.get(record.service, 0) + 1 if record.error is not None else 0
        )

    def problems(self) -> list[str]:
        return [
            f"{service} unreachable: the last {count} calls failed"
            for service, count in sorted(self.failures.items())
            if count >= self.threshold
        ]


DEPENDENCIES = DependencyTracker()


def track_dependencies() -> None:
    """Count every external call's outcome from now on (idempotent)."""
    add_observer(DEPENDENCIES)


def dependency_problems() -> list[str]:
    """External services whose recent calls all failed."""
    return DEPENDENCIES.problems()


HealthAnswer = Callable[[Any], tuple[int, dict[str, Any]]]
"""The status and JSON body of a health probe, from the application object."""


class HealthProbeMiddleware:
    """Answers ``GET``/``HEAD`` of the health route ahead of routing and of every other
    middleware, so a probe costs microseconds however often a load balancer sends it. The
    route itself stays declared on the app (it documents the probe in the OpenAPI document)
    and gives the same answer."""

    def __init__(self, app: ASGIApp, path: str, answer: HealthAnswer) -> None:
        self.app = app
        self.path = path
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.path
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        status, answer = self.answer(scope["app"])
        body = json.dumps(answer, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})
