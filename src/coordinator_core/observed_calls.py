"""Calls to external services, observed where they happen.

An HTTP client wraps its transport in :class:`ObservedTransport` with the service's name;
every finished call is reported to the registered observers with its duration and, when it
failed, a short error kind. Observers
(the metrics exporter, the readiness probe) register with :func:`add_observer`; nothing is
measured twice and the clients know nothing about who listens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One finished call: its service, operation (e.g. an HTTP method), duration, failure."""

    service: str
    operation: str
    seconds: float
    error: str | None  # None: it succeeded; else "transport", "status_5xx", an exception name


Observer = Callable[[CallRecord], None]

_observers: list[Observer] = []


def add_observer(observer: Observer) -> None:
    """Report every call from now on to ``observer`` (idempotent)."""
    if observer not in _observers:
        _observers.append(observer)


def _report(record: CallRecord) -> None:
    for observer in list(_observers):
        try:
            observer(record)
        except Exception:  # an observer never breaks a call
            log.exception("call observer failed")


class ObservedTransport(httpx.AsyncBaseTransport):
    """An HTTP transport that reports every request to the observers.

    A transport failure or a 5xx answer counts as a failed call; any other answer (4xx
    included: the service answered) as a successful one. Streams count until their headers.
    """

    def __init__(self, service: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = service
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            _report(
                CallRecord(self.service, request.method, time.perf_counter() - started, "transport")
            )
            raise
        error = "status_5xx" if response.status_code >= 500 else None
        _report(CallRecord(self.service, request.method, time.perf_counter() - started, error))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
